"""The worker's cache of compiled models keeps the most recently used few."""

from __future__ import annotations

from pathlib import Path

import pytest

from caffebatch.compiler.artifact import load_compiled, save_compiled
from caffebatch.jobs import default_batch_size
from caffebatch.model import load_model
from caffebatch.runtime import choice
from caffebatch.runtime.backends import OPENVINO
from caffebatch.service.execution import ModelCache
from tests.engines import INSTALLED

LENET = Path(__file__).parents[2] / "examples" / "lenet"


def test_the_cache_keeps_the_most_recently_used_models(tmp_path: Path) -> None:
    compiled = load_model(LENET)
    folders = [tmp_path / f"v{n}" for n in range(3)]
    for folder in folders:
        folder.mkdir()
        save_compiled(compiled, folder)
    cache = ModelCache(size=2)
    first = cache.get(folders[0])
    assert cache.get(folders[0]) is first  # loaded once
    cache.get(folders[1])
    cache.get(folders[0])  # now the most recent
    cache.get(folders[2])  # evicts v1, the least recent
    assert cache.get(folders[0]) is first
    assert list(cache._models) == [folders[2], folders[0]]


@pytest.mark.skipif(OPENVINO not in INSTALLED, reason="openvino not installed")
def test_auto_measures_at_the_run_batch_size_outside_the_lock_and_saves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_compiled(load_model(LENET), tmp_path)
    cache = ModelCache(engine="auto")
    held_while_measuring = []
    measure = choice.choose

    def observed(*args, **kwargs):  # the real measurement, noting whether the lock is held
        held_while_measuring.append(cache._lock.locked())
        return measure(*args, **kwargs)

    monkeypatch.setattr(choice, "choose", observed)
    at_64 = cache.get(tmp_path, 64)
    assert at_64.engine_choice["batch"] == 64 and held_while_measuring == [False]
    assert cache.get(tmp_path, 64).engine_choice == at_64.engine_choice  # kept: not measured
    assert held_while_measuring == [False]
    default = default_batch_size(at_64.declared_batch)
    assert cache.get(tmp_path).engine_choice["batch"] == default  # no batch size: the default
    assert cache.get(tmp_path, 8).engine_choice["batch"] == 8
    batches = {64, default, 8}
    assert held_while_measuring == [False] * len(batches)
    saved = load_compiled(tmp_path)  # and a restart reuses what was measured
    assert {c["batch"] for c in saved.engine_choices} == batches
