"""Pipeline runs a long-lived process (the Jupyter server) started and supervises.

A run is a child process (``python -m jupyter_mlops.pipeline.runner``) writing its own record
(``run.json``); its supervisor only starts it, reaps it (a run whose process died without
finishing its record is marked failed or cancelled) and stops it on request. The owner
creates one ``PipelineRuns`` and closes it when it stops: every run still going is stopped
then (its steps too) and recorded as cancelled, so no process of ours outlives the owner.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import BackendUnavailableError

#: Seconds a run process has to stop its steps and record itself cancelled before it is killed.
STOP_GRACE_S = 15.0


class PipelineRuns:
    """The run processes one server started: reaped when they end, stopped on request, all
    stopped by ``close``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self._closed = False

    def start(self, run_id: str, argv: Sequence[str], cwd: Path, record: Path) -> None:
        """Start the run process ``argv`` in ``cwd``; ``record`` is its ``run.json`` (its
        output goes to ``runner.log`` beside it)."""
        with self._lock:
            if self._closed:
                raise BackendUnavailableError("the Jupyter server is stopping: start the run "
                                              "again once it is back")
            with open(record.parent / "runner.log", "wb") as log:
                proc = subprocess.Popen(list(argv), cwd=cwd, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
            self._procs[run_id] = (proc, record)

    def running(self) -> list[str]:
        """The ids of the runs whose process is still going."""
        self.reap()
        with self._lock:
            return list(self._procs)

    def reap(self) -> None:
        """Runs whose process ended without finishing their record are marked failed (or
        cancelled, when a signal stopped them)."""
        from .runner import mark_ended

        with self._lock:
            ended = [(rid, p, r) for rid, (p, r) in self._procs.items() if p.poll() is not None]
            for rid, _, _ in ended:
                del self._procs[rid]
        for _, proc, record in ended:
            mark_ended(record, proc.returncode)

    def stop(self, run_id: str) -> bool:
        """Stop one run (False: this supervisor is not running it)."""
        with self._lock:
            entry = self._procs.get(run_id)
        if entry is None:
            return False
        _stop([entry[0]])
        self.reap()
        return True

    def close(self) -> None:
        """Stop every run still going and refuse new ones. Blocking (up to STOP_GRACE_S, then
        the rest are killed); idempotent."""
        with self._lock:
            self._closed = True
            procs = [proc for proc, _ in self._procs.values()]
        _stop(procs)
        self.reap()


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (the runner stops its steps and records the run as cancelled), then SIGKILL to
    the process group of whatever is still there after STOP_GRACE_S."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the runner and steps
            proc.wait()
