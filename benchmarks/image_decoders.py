"""Image decoders compared: time per image, whether the GIL is released, size on disk.

    .venv/bin/python benchmarks/image_decoders.py [--extra-path DIR] [--rounds 5]

`--extra-path` is a folder with candidates that are not in the project's environment
(`pip install --target DIR simplejpeg pillow pyturbojpeg`); it is appended to sys.path.

Each candidate decodes the same encoded images to an 8-bit BGR (or RGB) array, in one
process, interleaved round by round, so that only ratios within a run count on a noisy
machine. "GIL" is how far another Python thread counts while a 12-megapixel image of the same
format decodes, against while the caller sleeps as long (see gil_share): near 0 when the decoder
holds the GIL. (Short decodes cannot show it: the counting thread needs a few milliseconds to be
scheduled on a busy machine.)
Results go to BENCHMARKS.md by hand.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np


def sample_image(height: int, width: int, seed: int) -> np.ndarray:
    """A photo-like BGR image: smooth colour fields with fine noise (JPEG's usual load)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = [127 + 100 * np.sin(x / (17 + 9 * c) + y / (23 + 5 * c) + c) for c in range(3)]
    image = np.stack(planes, axis=-1) + rng.normal(0, 12, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def candidates(kind: str) -> dict[str, Callable[[bytes], np.ndarray]]:
    """Decoders that can be imported here, for `kind` ("jpeg" or "png")."""
    found: dict[str, Callable[[bytes], np.ndarray]] = {
        "opencv imdecode": lambda data: cv2.imdecode(np.frombuffer(data, np.uint8),
                                                     cv2.IMREAD_COLOR),
    }
    if kind == "jpeg" and _importable("simplejpeg"):
        import simplejpeg

        found["simplejpeg"] = lambda data: simplejpeg.decode_jpeg(data, colorspace="BGR")
    if kind == "jpeg" and _importable("turbojpeg"):
        try:
            from turbojpeg import TurboJPEG

            decoder = TurboJPEG()
            found["pyturbojpeg"] = decoder.decode
        except (OSError, RuntimeError) as error:  # it needs the system's libturbojpeg
            print(f"pyturbojpeg: unusable here ({error})")
    if _importable("PIL"):
        import io

        from PIL import Image

        found["pillow"] = lambda data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return found


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def per_image_ms(decode: Callable[[bytes], np.ndarray], images: list[bytes]) -> float:
    start = time.perf_counter()
    for data in images:
        decode(data)
    return (time.perf_counter() - start) * 1000 / len(images)


def gil_share(decode: Callable[[bytes], np.ndarray], data: bytes, rounds: int = 5) -> float:
    """How far a Python thread gets while `decode` runs, against while the caller sleeps.

    Near 0: the decoder holds the GIL (the other thread stands still); near 1 or above: it
    releases it. Counting iterations, not throughput, keeps this clear on a busy machine.
    """
    counter = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            counter[0] += 1

    thread = threading.Thread(target=count, daemon=True)
    thread.start()
    during = asleep = 0.0
    try:
        for _ in range(rounds):
            before, start = counter[0], time.perf_counter()
            decode(data)
            seconds = time.perf_counter() - start
            during += counter[0] - before
            before = counter[0]
            time.sleep(seconds)
            asleep += counter[0] - before
    finally:
        stop.set()
        thread.join()
    return during / max(asleep, 1.0)


def largest_difference(decode: Callable[[bytes], np.ndarray], data: bytes, name: str) -> int:
    reference = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(int)
    decoded = decode(data).astype(int)
    if name == "pillow":
        decoded = decoded[..., ::-1]
    return int(np.abs(decoded - reference).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra-path", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=40)
    args = parser.parse_args()
    if args.extra_path:
        sys.path.append(str(args.extra_path))
    sizes = {"224x224": (224, 224), "1024x768": (768, 1024)}
    formats = {"jpeg": (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90]), "png": (".png", [])}
    for kind, (extension, params) in formats.items():
        decoders = candidates(kind)
        large = cv2.imencode(extension, sample_image(3000, 4000, 99), params)[1].tobytes()
        shares = {name: gil_share(decode, large, rounds=2) for name, decode in decoders.items()}
        for label, (height, width) in sizes.items():
            images = [cv2.imencode(extension, sample_image(height, width, seed), params)[1].tobytes()
                      for seed in range(args.count)]
            times: dict[str, list[float]] = {name: [] for name in decoders}
            for _ in range(args.rounds):
                for name, decode in decoders.items():
                    times[name].append(per_image_ms(decode, images))
            mean_bytes = sum(map(len, images)) / len(images)
            print(f"\n{kind} {label} ({mean_bytes / 1024:.0f} KiB each), ms per image "
                  "(best of rounds), speed vs opencv, GIL share, largest difference to opencv")
            base = min(times["opencv imdecode"])
            for name, decode in decoders.items():
                best = min(times[name])
                print(f"  {name:16s} {best:7.3f} ms  x{base / best:4.2f}  "
                      f"GIL {shares[name]:4.2f}  "
                      f"diff {largest_difference(decode, images[0], name)}")


if __name__ == "__main__":
    main()
