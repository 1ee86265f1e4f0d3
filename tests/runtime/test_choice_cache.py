"""The CLI keeps `engine = auto`'s choices per compiled model and machine (choice_cache.py)."""

from __future__ import annotations

import json

import pytest

from caffebatch.runtime import choice_cache
from caffebatch.runtime.choice_cache import ChoiceCache, cache_folder

CHOICE = {"engine": "openvino", "batch": 64, "precision": "f32", "trials": []}


def test_the_folder_follows_the_environment(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setattr(choice_cache.Path, "home", lambda: home)
    assert cache_folder({}) == home / ".cache/caffebatch/engine-choices"
    assert cache_folder({"XDG_CACHE_HOME": "/x"}) == choice_cache.Path("/x/caffebatch/engine-choices")
    assert cache_folder({"XDG_CACHE_HOME": "/x", "CAFFEBATCH_CACHE_DIR": "/y"}) == (
        choice_cache.Path("/y/engine-choices"))


def test_choices_come_back_for_the_same_model_and_threads_only(tmp_path):
    cache = ChoiceCache(tmp_path / "choices")
    assert cache.file(b"model", 1).load() == ()  # nothing measured yet, not even a folder
    path = cache.file(b"model", 1).save([CHOICE])
    assert path.parent == tmp_path / "choices"
    assert cache.file(b"model", 1).load() == (CHOICE,)
    assert cache.file(b"model", 2).load() == ()  # another thread count: measured again
    assert cache.file(b"another model", 1).load() == ()
    paths = {cache.file(model, threads).path
             for model, threads in ((b"model", 1), (b"model", 2), (b"another model", 1))}
    assert len(paths) == 3
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left


def test_another_machine_is_measured_again(tmp_path, monkeypatch):
    cache = ChoiceCache(tmp_path)
    cache.file(b"model", 1).save([CHOICE])
    here = choice_cache.machine()
    upgraded = {**here, "backends": {**here["backends"], "openvino": "2099.1"}}
    monkeypatch.setattr(choice_cache, "machine", lambda: upgraded)
    assert cache.file(b"model", 1).load() == ()
    monkeypatch.setattr(choice_cache, "machine", lambda: {**here, "cpu": "another CPU"})
    assert cache.file(b"model", 1).load() == ()
    monkeypatch.setattr(choice_cache, "machine", lambda: here)
    assert cache.file(b"model", 1).load() == (CHOICE,)


@pytest.mark.parametrize("damage", [b"", b"{", b"[]", b'{"where": 1, "choices": []}',
                                    b'{"choices": "openvino"}'])
def test_a_damaged_file_means_not_measured(tmp_path, damage):
    cache = ChoiceCache(tmp_path)
    cache.file(b"model", 1).save([CHOICE]).write_bytes(damage)
    assert cache.file(b"model", 1).load() == ()


def test_a_file_with_another_where_is_not_used(tmp_path):
    cache = ChoiceCache(tmp_path)
    path = cache.file(b"model", 1).save([CHOICE])
    kept = json.loads(path.read_bytes())
    kept["where"]["threads"] = 2  # as if two settings had met on one name
    path.write_text(json.dumps(kept))
    assert cache.file(b"model", 1).load() == ()


def test_an_unwritable_folder_raises_oserror(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OSError):
        ChoiceCache(tmp_path / "file" / "below").file(b"model", 1).save([CHOICE])
