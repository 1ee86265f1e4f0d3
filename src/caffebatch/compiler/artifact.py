"""A compiled model on disk: ``model.onnx`` and ``compiled.json`` side by side in one folder.

The service compiles a model package once, when it is published, and keeps this form with
the version; runs and pages load it instead of compiling again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import onnx
import orjson

from caffebatch.compiler.compile import CompiledModel, LayerInfo
from caffebatch.compiler.registry import Tensor
from caffebatch.errors import ModelError
from caffebatch.inputs.transform import Transform

ONNX_FILE = "model.onnx"
META_FILE = "compiled.json"


def save_compiled(compiled: CompiledModel, folder: Path) -> None:
    """Write `compiled` into `folder` (which must exist)."""
    onnx.save_model(compiled.onnx, str(folder / ONNX_FILE))
    save_meta(compiled, folder)


def save_meta(compiled: CompiledModel, folder: Path) -> None:
    """Write only `compiled.json`: after `engine = auto` chose a backend for a saved model."""
    meta = {
        "inputs": {name: list(shape) for name, shape in compiled.inputs.items()},
        "outputs": list(compiled.outputs),
        "declared_batch": compiled.declared_batch,
        "transforms": {name: t.to_json() for name, t in compiled.transforms.items()},
        "labels": None if compiled.labels is None else list(compiled.labels),
        "layers": [
            {"name": l.name, "type": l.type, "macs": l.macs,
             "tops": [{"name": t.name, "shape": list(t.shape)} for t in l.tops]}
            for l in compiled.layers
        ],
        "engine": compiled.engine,
        "engine_choice": compiled.engine_choice,
        "precision": compiled.precision,
        "engine_choices": list(compiled.engine_choices),
    }
    (folder / META_FILE).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))


def load_layers(folder: Path) -> tuple[LayerInfo, ...]:
    """The layers of the model compiled into `folder`, without loading its weights."""
    return _layers(_meta(folder))


def load_compiled(folder: Path) -> CompiledModel:
    """The model compiled into `folder` by `save_compiled`."""
    meta = _meta(folder)
    try:
        model = onnx.load_model(str(folder / ONNX_FILE))
    except Exception as error:  # onnx raises protobuf and OS errors alike
        raise ModelError(f"cannot read the compiled model in {folder}: {error}") from error
    return CompiledModel(
        onnx=model,
        inputs={name: tuple(shape) for name, shape in meta["inputs"].items()},
        outputs=tuple(meta["outputs"]),
        layers=_layers(meta),
        declared_batch=meta["declared_batch"],
        engine=meta.get("engine"),  # absent when saved before engines could be chosen
        engine_choice=meta.get("engine_choice"),
        precision=meta.get("precision", "f32"),
        engine_choices=_choices(meta),
        # models compiled before images were read have neither
        transforms={name: Transform.from_json(t) for name, t in meta.get("transforms", {}).items()},
        labels=None if meta.get("labels") is None else tuple(meta["labels"]),
    )


def _choices(meta: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    # Saved before choices were kept per batch size: the one choice there was, if any.
    if "engine_choices" in meta:
        return tuple(meta["engine_choices"])
    return (meta["engine_choice"],) if meta.get("engine_choice") else ()


_KEYS = ("inputs", "outputs", "declared_batch", "layers")


def _meta(folder: Path) -> dict[str, Any]:
    try:
        meta = orjson.loads((folder / META_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise ModelError(f"no readable compiled model in {folder}: {error}") from error
    missing = [key for key in _KEYS if key not in meta] if isinstance(meta, dict) else _KEYS
    if missing:
        raise ModelError(f"{folder / META_FILE} lacks {list(missing)}; compile the model again")
    return cast(dict[str, Any], meta)


def _layers(meta: dict[str, Any]) -> tuple[LayerInfo, ...]:
    try:
        return tuple(
            LayerInfo(
                layer["name"], layer["type"],
                tuple(Tensor(t["name"], tuple(t["shape"])) for t in layer["tops"]),
                layer["macs"],
            )
            for layer in meta["layers"]
        )
    except (KeyError, TypeError) as error:
        raise ModelError(
            f"a layer in {META_FILE} is malformed ({error!r}); compile the model again"
        ) from error
