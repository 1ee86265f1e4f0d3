"""A labels file: one class name per line, in class order, as Caffe's synset_words.txt."""

from __future__ import annotations

from pathlib import Path

from caffebatch.errors import PackageError

MAX_LABELS_BYTES = 16 * 1024 * 1024
MAX_LABEL_CHARS = 1000


def read_labels(path: Path) -> tuple[str, ...]:
    """The class names in `path`, by class index; PackageError names the line that is wrong."""
    name = path.name
    if path.stat().st_size > MAX_LABELS_BYTES:
        raise PackageError(f"labels file {name!r} is over {MAX_LABELS_BYTES} bytes")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PackageError(f"labels file {name!r} is not UTF-8 text: {error}") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # a trailing newline or blank end is no class
        lines.pop()
    if not lines:
        raise PackageError(f"labels file {name!r} holds no class names")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise PackageError(f"labels file {name!r}, line {number}: empty; expected a class "
                               "name (one per line, in class order)")
        if len(line) > MAX_LABEL_CHARS:
            raise PackageError(f"labels file {name!r}, line {number}: {len(line)} characters, "
                               f"over {MAX_LABEL_CHARS}")
    return tuple(line.strip() for line in lines)
