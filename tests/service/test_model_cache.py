"""The worker's cache of compiled models keeps the most recently used few."""

from __future__ import annotations

from pathlib import Path

from caffebatch.compiler.artifact import save_compiled
from caffebatch.model import load_model
from caffebatch.service.execution import ModelCache

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
