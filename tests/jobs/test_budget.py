"""The byte budget: chunks cut to fit it, charges that wait for room, and runs under it."""

from __future__ import annotations

import threading

from caffebatch.jobs import Location, RunOptions, run_batch
from caffebatch.jobs.budget import ByteBudget, chunks_within, entry_bytes
from caffebatch.jobs.storage import Entry
from tests.jobs.conftest import DIGITS


def test_chunks_are_cut_by_count_and_by_bytes_but_hold_one_entry_at_least():
    entries = [Entry(f"k{i}", size) for i, size in enumerate([10, 10, 10, 1000, 10])]
    one = entry_bytes(Entry("x", 10), decoded=4)
    chunks = list(chunks_within(entries, size=2, max_bytes=3 * one, decoded=4))
    assert [[e.key for e in chunk] for chunk, _ in chunks] == [["k0", "k1"], ["k2"], ["k3"],
                                                                ["k4"]]
    assert [weight for _, weight in chunks] == [2 * one, one, entry_bytes(entries[3], 4), one]


def test_a_charge_waits_for_room_and_an_oversized_one_goes_alone():
    budget = ByteBudget(100)
    assert budget.acquire(60)
    assert not budget.acquire(60, timeout=0.05)  # would pass the limit
    got = threading.Event()
    waiter = threading.Thread(target=lambda: budget.acquire(500) and got.set())
    waiter.start()
    assert not got.wait(0.1)  # over the whole budget: waits until nothing else is held
    budget.release(60)
    waiter.join(5)
    assert got.is_set()
    assert not budget.acquire(1, timeout=0.05)  # the oversized charge holds it all
    budget.release(500)
    assert budget.acquire(100)


def test_a_budget_smaller_than_one_record_still_scores_every_record(lenet, lenet_scorer,
                                                                   tmp_path):
    options = RunOptions(run_id="tiny-budget", max_inflight_bytes=1)
    summary = run_batch(lenet, Location(str(DIGITS)), Location(str(tmp_path / "out")), options,
                        scorer=lenet_scorer)
    assert summary.status == "SUCCESS"
    assert summary.scored == len(list(DIGITS.iterdir())) == len(list((tmp_path / "out").glob("*.json")))


def test_worker_processes_write_the_same_bytes_as_threads(lenet, tmp_path):
    runs = {}
    for processes in (0, 2):
        out = tmp_path / f"out{processes}"
        summary = run_batch(lenet, Location(str(DIGITS)), Location(str(out)),
                            RunOptions(run_id="procs", batch_size=16, processes=processes))
        assert summary.status == "SUCCESS", summary
        runs[processes] = {p.name: p.read_bytes() for p in out.glob("*.json")}
    assert len(runs[0]) == len(list(DIGITS.iterdir()))
    assert runs[2] == runs[0]
