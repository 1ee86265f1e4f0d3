"""plan_run: the one check of a run's locations and batch size, before anything is read."""

from __future__ import annotations

import pytest

from caffebatch.errors import RunError
from caffebatch.jobs import Location, RunOptions, plan_run


def test_without_a_model_only_the_locations_are_checked(tmp_path) -> None:
    plan = plan_run(Location(str(tmp_path / "in")), Location(str(tmp_path / "out")))
    assert plan.batch_size is None
    with pytest.raises(RunError, match="overlaps") as refused:
        plan_run(Location(str(tmp_path)), Location(str(tmp_path / "in/results")))
    assert refused.value.code == "invalid_run"


def test_the_batch_size_is_the_option_else_the_prototxts(lenet, tmp_path) -> None:
    source, target = Location(str(tmp_path / "in")), Location(str(tmp_path / "out"))
    assert plan_run(source, target, lenet).batch_size == 64  # LeNet's deploy prototxt
    assert plan_run(source, target, lenet, RunOptions("r", batch_size=5)).batch_size == 5
    with pytest.raises(RunError, match="at most 63"):
        plan_run(source, target, lenet, RunOptions("r", max_batch_bytes=64 * 3136 - 1))


def test_local_locations_are_made_absolute_on_the_driver(tmp_path, monkeypatch):
    import os

    from caffebatch.jobs import Location, plan_run

    monkeypatch.chdir(tmp_path)
    plan = plan_run(Location("in"), Location("out/"), None)
    assert (plan.source.url, plan.target.url) == (str(tmp_path / "in"), str(tmp_path / "out"))
    assert os.path.isabs(plan.source.url)
    s3 = plan_run(Location("s3://b/in"), Location("s3://b/out"), None)
    assert (s3.source.url, s3.target.url) == ("s3://b/in", "s3://b/out")
