"""The tracking journal on disk: a torn last line (its kernel died mid-write) costs no later
record, and a journal written while the store is unreachable stops growing at its cap."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_mlops.tracking.journal import Journal, journal_dir, read

pytestmark = pytest.mark.usefixtures("tracking_reset")

TORN = '{"op":"batch","seq":3,"m":[["loss",0.5,17000'  # a write cut short: no newline


def _journal_with_torn_tail(folder: Path) -> Path:
    journal = Journal(folder, "run1", {"uri": "http://store", "run_id": "abc"})
    journal.append("batch", {"m": [["loss", 1.0, 1, 0]]})
    journal.append("batch", {"m": [["loss", 0.9, 2, 1]]})
    journal.close(remove=False)
    with journal.path.open("a", encoding="utf-8") as handle:
        handle.write(TORN)
    return journal.path


@pytest.mark.parametrize("how", ["resumed", "adopted"])
def test_a_record_after_a_torn_line_is_kept(tmp_path: Path, how: str) -> None:
    path = _journal_with_torn_tail(tmp_path)
    if how == "resumed":  # the same run started again (resume)
        journal = Journal(tmp_path, "run1", {"uri": "http://store", "run_id": "abc"})
    else:  # the next kernel takes over a dead kernel's journal
        adopted = Journal.adopt(path)
        assert adopted is not None
        journal = adopted
    seq = journal.append("batch", {"m": [["loss", 0.8, 3, 2]]})
    journal.close(remove=False)

    assert seq == 3  # the torn record was never complete: its number is free
    text = path.read_text()
    assert TORN not in text and text.endswith("\n")
    state = read(path)
    assert [r.data["m"][0][1] for r in state.records] == [1.0, 0.9, 0.8]
    assert state.header["run_id"] == "abc"


def test_a_journal_torn_inside_its_header_starts_afresh(tmp_path: Path) -> None:
    path = journal_dir(tmp_path) / "run2.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text('{"op":"open","v":1,"local_')
    journal = Journal(path.parent, "run2", {"uri": "http://store", "run_id": None})
    journal.append("end", {"status": "FINISHED", "end_time": 1})
    journal.close(remove=False)
    state = read(path)
    assert state.header["local_id"] == "run2"
    assert [r.op for r in state.records] == ["end"]


def test_batches_past_the_cap_are_dropped_but_create_and_end_are_kept(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "run3", {"uri": "http://store", "run_id": None})
    journal.cap = journal.size + 2_000
    journal.append("create", {"experiment": "e", "run_name": "r"})
    written = [journal.append("batch", {"m": [["loss", float(i), i, i]] * 10})
               for i in range(20)]
    staged = journal.stage(None, "big.bin", b"x" * 5_000)
    artifact = journal.append("artifact", {"file": str(staged), "path": "out"})
    end = journal.append("end", {"status": "FINISHED", "end_time": 1})
    journal.sync()

    kept = [seq for seq in written if seq is not None]
    assert 0 < len(kept) < 20 and written[len(kept):] == [None] * (20 - len(kept))
    assert artifact is None and not staged.exists()  # its copy is not kept either
    assert end is not None
    assert journal.path.stat().st_size <= journal.cap
    assert [r.op for r in read(journal.path).records] == (
        ["create"] + ["batch"] * len(kept) + ["end"])
    # a record being sent now is always journaled (it must be known if the answer is lost)
    assert journal.append("batch", {"m": [["loss", 0.0, 0, 99]]}, tried=True) is not None
    journal.close(remove=False)


SCRIPT = textwrap.dedent("""
    import jupyter_mlops as mlops
    from jupyter_mlops.tracking import journal
    journal.MAX_BYTES = 100_000
    mlops.start_run(run_name="offline")
    for step in range(5_000):
        mlops.log(step=step, loss=1.0 / (step + 1))
    mlops.end_run(timeout=5)
""")


def test_an_offline_run_stops_journaling_at_the_cap_and_says_so(
        project: Path, closed_port_url: str, child_env: Callable[..., dict[str, str]]) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=project,
                          env=child_env({"MLOPS_TRACKING_URI": closed_port_url}),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    [path] = journal_dir(project / ".mlops").glob("*.jsonl")
    assert path.stat().st_size <= 100_000
    state = read(path)
    assert 0 < state.points < 5_000
    ops = [r.op for r in state.records]
    assert ops[0] == "create" and ops[-1] == "end"  # the run's end is never dropped
    told = [line for line in done.stderr.splitlines() if "is full" in line]
    assert len(told) == 1, done.stderr  # once, not once per batch
    assert "unreachable" in told[0] and "dropped" in told[0]

