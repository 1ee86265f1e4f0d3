"""What a run over images shows of itself: a sample of its inputs with what the model said.

The gallery is the first `GALLERY_SIZE` results of the run (in key order) whose inputs are
images, each with its top classes (a classifier's output, names from the model's labels file
when it has one, else class indices) or its boxes (an SSD `DetectionOutput`, rows of
``[image, label, score, xmin, ymin, xmax, ymax]`` in the image's fractions). Everything is
read through the deployment's own Locations (see `runfiles`), so the page never holds keys.
The output objects are read as the run wrote them, in the seed's format.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from caffebatch.errors import NotFoundError, ObjectNotFoundError
from caffebatch.service.context import ServiceContext
from caffebatch.service.deployments import deployment_row
from caffebatch.service.identity import Principal
from caffebatch.service.runfiles import REPORT_OUTAGE_S, RunPlaces, places_of

GALLERY_SIZE = 12
TOP_CLASSES = 3
BOX_THRESHOLD = 0.5  # boxes below this score are the detector's noise
MAX_RESULT_BYTES = 4 * 1024 * 1024
HEADER_BYTES = 64  # enough of an object to tell an image format by its first bytes
DETECTION_LAYER = "DetectionOutput"


@dataclass(frozen=True)
class ModelView:
    """What the gallery needs of a compiled model: class names and its detection outputs."""

    labels: tuple[str, ...] | None
    detections: frozenset[str]
    takes_images: bool

    @classmethod
    def of(cls, meta: Mapping[str, Any]) -> ModelView:
        detections = {top["name"] for layer in meta.get("layers", ())
                      if layer.get("type") == DETECTION_LAYER for top in layer.get("tops", ())}
        labels = meta.get("labels")
        return cls(None if labels is None else tuple(labels), frozenset(detections),
                   bool(meta.get("transforms")))

    def name(self, index: int) -> str:
        if self.labels is not None and 0 <= index < len(self.labels):
            return self.labels[index]
        return str(index)


@dataclass(frozen=True)
class TopClass:
    name: str
    probability: float


@dataclass(frozen=True)
class Box:
    """A detection; the corners are fractions of the image's width and height."""

    name: str
    score: float
    xmin: float
    ymin: float
    xmax: float
    ymax: float


@dataclass(frozen=True)
class Shown:
    """One input of the gallery: its key, and its top classes or its boxes."""

    key: str
    classes: tuple[TopClass, ...] = ()
    boxes: tuple[Box, ...] = ()


def top_classes(values: Any, view: ModelView, count: int = TOP_CLASSES) -> tuple[TopClass, ...]:
    """The `count` highest scores of a classifier's output, highest first."""
    scores = np.asarray(values, np.float64).ravel()
    order = np.argsort(-scores, kind="stable")[:count]
    return tuple(TopClass(view.name(int(i)), float(scores[i])) for i in order)


def boxes_of(values: Any, view: ModelView, threshold: float = BOX_THRESHOLD) -> tuple[Box, ...]:
    """A DetectionOutput's rows over `threshold`, highest score first."""
    rows = np.asarray(values, np.float64).reshape(-1, 7)
    kept = sorted((row for row in rows if row[2] > threshold), key=lambda row: -row[2])
    return tuple(Box(view.name(int(row[1])), float(row[2]), *map(float, row[3:7]))
                 for row in kept)


def shown_of(key: str, outputs: Mapping[str, Any], view: ModelView) -> Shown:
    """What the gallery shows of one result (`{output: values}`, as the run wrote it)."""
    boxes = [box for name in sorted(view.detections & set(outputs))
             for box in boxes_of(outputs[name], view)]
    if view.detections & set(outputs):
        return Shown(key, boxes=tuple(boxes))
    first = next(iter(outputs), None)
    return Shown(key, classes=() if first is None else top_classes(outputs[first], view))


@contextlib.contextmanager
def deployment_storages(ctx: ServiceContext, principal: Principal, instance_id: str,
                        deployment_id: str) -> Iterator[tuple[Any, Any, ModelView]]:
    """The deployment's source and target storages and its model's view, closed after use."""
    from caffebatch.compiler.artifact import load_meta
    from caffebatch.jobs.spec import RetryPolicy
    from caffebatch.jobs.storage import open_storage

    with ctx.db.session() as session:
        row = deployment_row(session, principal, instance_id, deployment_id)
        stored, version_id = (row.input, row.output, row.secrets), row.version_id
    places: RunPlaces = places_of(ctx, *stored)
    view = ModelView.of(load_meta(Path(ctx.settings.models_dir) / version_id))
    retry = RetryPolicy(outage_s=REPORT_OUTAGE_S)
    source = open_storage(places.source, retry, connections=1)
    target = open_storage(places.target, retry, connections=1)
    try:
        yield source, target, view
    finally:
        source.close()
        target.close()


def result_of(target: Any, key: str) -> Mapping[str, Any]:
    """The run's result for input `key`; NotFoundError when the run wrote none."""
    if key in ("", ".", "..") or "/" in key or "\\" in key:
        raise NotFoundError(f"{key!r} is not an input of this deployment")
    try:
        document = orjson.loads(target.get(key, MAX_RESULT_BYTES))
    except (ObjectNotFoundError, orjson.JSONDecodeError) as error:
        raise NotFoundError(f"the deployment has no result for input {key!r}") from error
    outputs = document.get(key) if isinstance(document, dict) else None
    if not isinstance(outputs, dict):
        raise NotFoundError(f"the deployment has no result for input {key!r}")
    return outputs


def gallery(ctx: ServiceContext, principal: Principal, instance_id: str, deployment_id: str,
            count: int = GALLERY_SIZE) -> list[Shown]:
    """The first `count` scored image inputs of the run; empty when its model takes no images."""
    from caffebatch.inputs.headers import kind_of

    shown: list[Shown] = []
    with deployment_storages(ctx, principal, instance_id, deployment_id) as (source, target, view):
        if not view.takes_images:
            return shown
        # a listed folder (the run's own _caffebatch/) or oddity is no result
        keys = (entry.key for entry in target.list()
                if entry.skip is None and entry.bad_name is None and "/" not in entry.key)
        for key in islice(keys, count * 4):  # a few non-images (JSON records) are passed over
            try:
                outputs = result_of(target, key)
                head = source.get(key, HEADER_BYTES)
            except (NotFoundError, ObjectNotFoundError):
                continue
            kind = kind_of(head)
            if kind is not None and kind.size is not None:
                shown.append(shown_of(key, outputs, view))
            if len(shown) == count:
                break
    return shown


def labelled(shown: Sequence[Shown]) -> list[dict[str, Any]]:
    """Plain values of `shown`, for a page or a JSON answer."""
    return [{"key": s.key, "classes": [vars(c) for c in s.classes],
             "boxes": [vars(b) for b in s.boxes]} for s in shown]
