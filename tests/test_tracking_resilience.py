"""Nothing logged is lost and nothing is sent twice: the tracking server down at the start of
a run, killed in the middle of one and restarted, an answer lost after the server applied a
batch, a kernel that dies or exits with a run open."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.tracking import sender as sender_module
from jupyter_mlops.tracking.journal import read
from jupyter_mlops.tracking.sender import SENDER

from .tracking_fixtures import LosingProxy, MlflowServer

pytestmark = pytest.mark.usefixtures("tracking_reset")


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def points(uri: str, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client(uri).get_metric_history(run_id, key))


def run_by_client_id(uri: str, local_id: str) -> Any:
    mlflow_client = client(uri)
    experiments = [e.experiment_id for e in mlflow_client.search_experiments()]
    found = mlflow_client.search_runs(experiments, f"tags.`mlops.client_run_id` = '{local_id}'")
    assert len(found) == 1, f"{len(found)} runs carry client id {local_id}"
    return found[0]


def journals(project: Path) -> list[Path]:
    return sorted((project / ".mlops" / "tracking" / "journal").glob("*.jsonl"))


def flush_until_done(attempts: int = 6) -> Any:
    """Each flush first retries the store; a restarted server may need a moment to answer."""
    result = mlops.flush(timeout=30)
    for _ in range(attempts):
        if result.done:
            break
        result = mlops.flush(timeout=30)
    return result


@pytest.fixture
def server_project(project: Path, restartable_server: MlflowServer,
                   monkeypatch: pytest.MonkeyPatch) -> MlflowServer:
    monkeypatch.setenv("MLOPS_TRACKING_URI", restartable_server.url)
    return restartable_server


# --------------------------------------------------------------------------- server down


def test_a_run_started_while_the_server_is_down_is_sent_when_it_is_back(
        server_project: MlflowServer, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = server_project
    server.stop()

    run = mlops.start_run(experiment="offline", run_name="away")
    assert run.run_id.startswith("pending-") and run.offline
    for step in range(1500):
        mlops.log(step=step, loss=step / 1500)
    mlops.log_params(lr=0.1)
    summary = mlops.end_run(timeout=5)

    assert summary.status == "FINISHED"
    assert not summary.flush.done and summary.flush.offline
    assert "kept in the journal until the store is back" in repr(summary)
    err = capsys.readouterr().err
    assert err.count(f"tracking store {server.url} is unreachable") == 1  # told once
    assert "the run goes on" in err
    [journal] = journals(project)
    assert read(journal).points == 1500

    server.start()
    assert flush_until_done().done

    stored = run_by_client_id(server.url, journal.stem)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "away"
    assert stored.data.params == {"lr": "0.1"}
    assert points(server.url, stored.info.run_id, "loss") == list(range(1500))
    assert client(server.url).get_experiment(stored.info.experiment_id).name == "offline"
    assert journals(project) == []
    assert "is back: 1500 points sent" in capsys.readouterr().err


def test_the_server_killed_mid_run_and_restarted_loses_and_duplicates_no_point(
        server_project: MlflowServer, project: Path) -> None:
    server = server_project
    run = mlops.start_run(run_name="through a crash")
    step = 0

    def log(count: int) -> None:
        nonlocal step
        for _ in range(count):
            mlops.log(step=step, loss=step * 0.5)
            step += 1

    log(3000)
    assert mlops.flush(timeout=60).done
    log(4000)
    server.kill()  # while the sender is busy with those: some batch is likely in flight
    log(2000)
    assert not mlops.flush(timeout=5).done
    server.start()
    log(1000)
    summary = mlops.end_run(timeout=60)
    if not summary.flush.done:
        assert flush_until_done().done

    stored = client(server.url).get_run(run.run_id)
    assert stored.info.status == "FINISHED"
    assert points(server.url, run.run_id, "loss") == list(range(10_000))
    assert journals(project) == []


def test_an_answer_lost_after_the_server_applied_a_batch_does_not_send_it_twice(
        project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The proxy forwards the first batch, the server applies it, and the client never hears
    back: the batch is checked against the server, not sent blindly again."""
    proxy = LosingProxy(tracking_server, lose=1)
    try:
        monkeypatch.setenv("MLOPS_TRACKING_URI", proxy.url)
        run = mlops.start_run()
        for step in range(500):
            mlops.log(step=step, loss=1.0 / (step + 1))
        summary = mlops.end_run(timeout=30)
        result = summary.flush if summary.flush.done else flush_until_done()
    finally:
        proxy.close()

    assert result.done
    assert proxy.lost == 1
    assert proxy.forwarded_points == 500  # every point went over the wire exactly once
    assert points(tracking_server, run.run_id, "loss") == list(range(500))
    assert client(tracking_server).get_run(run.run_id).info.status == "FINISHED"


def test_a_full_queue_goes_to_the_journal_instead_of_stalling_the_loop(
        project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    proxy = LosingProxy(tracking_server, lose=0, hold=release)
    try:
        monkeypatch.setenv("MLOPS_TRACKING_URI", proxy.url)
        monkeypatch.setattr(SENDER, "max_queue", 100)
        monkeypatch.setattr(sender_module, "FULL_WAIT", 0.5)
        run = mlops.start_run()
        mlops.log(step=0, loss=0.0)
        assert proxy.held.wait(30)  # the sender is stuck in its first request
        for step in range(1, 3000):  # 30 times what the queue holds
            mlops.log(step=step, loss=step * 0.5)

        assert SENDER.status()["journaled"] >= 3000 - 1 - 100  # on disk, not in memory
        release.set()
        summary = mlops.end_run(timeout=60)
        assert (summary.flush if summary.flush.done else flush_until_done()).done
    finally:
        release.set()
        proxy.close()

    assert points(tracking_server, run.run_id, "loss") == list(range(3000))
    assert proxy.forwarded_points == 3000


# --------------------------------------------------------------------------- the kernel


SCRIPT = """
import os, sys
import jupyter_mlops as mlops
run = mlops.start_run(run_name=sys.argv[1])
for step in range(300):
    mlops.log(step=step, loss=step / 300)
if sys.argv[1] == "crash":
    mlops.flush(timeout=10)  # what was drained is in the journal; then the process dies
    os._exit(3)
# "exit": leave the run open; the interpreter's exit ends it
"""


def test_journals_of_kernels_that_died_or_exited_are_sent_by_the_next_one(
        server_project: MlflowServer, project: Path,
        child_env: Callable[..., dict[str, str]]) -> None:
    server = server_project
    server.stop()
    env = child_env({"MLOPS_TRACKING_URI": server.url})
    for name, code in (("crash", 3), ("exit", 0)):
        done = subprocess.run([sys.executable, "-c", SCRIPT, name], cwd=project, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == code, done.stderr
    left = {read(path).header.get("local_id"): read(path) for path in journals(project)}
    assert sorted(state.points for state in left.values()) == [300, 300]

    server.start()
    mlops.start_run(run_name="next kernel")  # finds the journals and sends them
    mlops.end_run(timeout=30)
    assert flush_until_done().done

    for local_id in left:
        stored = run_by_client_id(server.url, local_id)
        assert stored.info.status == "KILLED"  # the kernel went away with the run open
        assert points(server.url, stored.info.run_id, "loss") == list(range(300))
    assert journals(project) == []


def test_a_journal_another_live_kernel_writes_is_left_to_it(
        server_project: MlflowServer, project: Path,
        child_env: Callable[..., dict[str, str]]) -> None:
    server = server_project
    script = textwrap.dedent("""
        import sys
        import jupyter_mlops as mlops
        run = mlops.start_run(run_name="other kernel")
        for step in range(10):
            mlops.log(step=step, loss=1.0)
        mlops.flush(timeout=30)
        print(run.run_id, flush=True)
        sys.stdin.readline()  # stays alive, its run open, until the test says so
        mlops.end_run()
    """)
    other = subprocess.Popen([sys.executable, "-c", script], cwd=project, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE,
                             env=child_env({"MLOPS_TRACKING_URI": server.url}))
    try:
        assert other.stdout is not None and other.stdin is not None
        other_id = other.stdout.readline().strip()
        assert other_id, other.stderr.read() if other.stderr else ""
        [their_journal] = journals(project)

        mlops.start_run(run_name="this kernel")  # looks for orphaned journals
        mlops.end_run(timeout=30)

        assert their_journal.exists()
        assert client(server.url).get_run(other_id).info.status == "RUNNING"
        other.stdin.write("\n")
        other.stdin.flush()
        assert other.wait(60) == 0
    finally:
        if other.poll() is None:
            other.kill()
    assert client(server.url).get_run(other_id).info.status == "FINISHED"
    assert points(server.url, other_id, "loss") == list(range(10))
    assert journals(project) == []


def test_a_kernel_exiting_with_a_run_open_ends_it_and_sends_its_points(
        server_project: MlflowServer, project: Path,
        child_env: Callable[..., dict[str, str]]) -> None:
    server = server_project
    env = child_env({"MLOPS_TRACKING_URI": server.url})
    done = subprocess.run([sys.executable, "-c", SCRIPT + "print(run.run_id)\n", "exit"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]

    stored = client(server.url).get_run(run_id)
    assert stored.info.status == "KILLED"
    assert stored.data.tags["mlops.ended_by"] == "kernel exit"
    assert points(server.url, run_id, "loss") == list(range(300))
    assert journals(project) == []


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never answers (a hung tracking server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_a_hung_tracking_server_never_hangs_the_kernel_at_exit(
        project: Path, silent_server: str, child_env: Callable[..., dict[str, str]]) -> None:
    env = child_env({"MLOPS_TRACKING_URI": silent_server})
    script = textwrap.dedent("""
        import jupyter_mlops as mlops
        run = mlops.start_run()
        for step in range(100):
            mlops.log(step=step, loss=1.0)
        print("cell done")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    assert "cell done" in done.stdout
    assert f"tracking store {silent_server} is unreachable" in done.stderr
    [journal] = journals(project)
    state = read(journal)
    assert state.points == 100
    assert state.records[0].op == "create" and state.records[-1].op == "end"
    assert state.records[0].data["tags"]["mlflow.source.type"] == "NOTEBOOK"
    assert state.records[-1].data["status"] == "KILLED"
