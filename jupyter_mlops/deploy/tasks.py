"""Deploys and rollbacks a long-lived process (the Jupyter server) runs in the background,
kept for polling: ``DeployTasks`` is one owner's small thread pool and its recent tasks.

The owner closes it when it stops: a task still running is interrupted at its next progress
report (the deploy then stops what it started, as on any failure) and waited for; queued ones
never start.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..errors import BackendUnavailableError, MLOpsError, NotFoundError

if TYPE_CHECKING:
    from .state import Deployment

TaskKind = Literal["deploy", "rollback"]
TaskState = Literal["running", "done", "failed"]
TASK_STATES: tuple[TaskState, ...] = ("running", "done", "failed")

KEEP_TASKS = 50
POOL_SIZE = 4
THREAD_PREFIX = "mlops-deploy"
#: Seconds ``close`` waits for running deploys to reach their next step and clean up.
CLOSE_WAIT_S = 60.0


class DeployInterrupted(MLOpsError):
    """The server stopped while the deploy ran: it was interrupted at its next step."""

    http_status = 503


@dataclass
class DeployTask:
    """A deploy or rollback running in the background."""

    id: str
    kind: TaskKind
    name: str | None
    label: str = ""  # what was asked: the model (deploy) or the deployment's name (rollback)
    dry_run: bool = False
    project: str = ""  # the deployments folder of the project (not in replies)
    state: TaskState = "running"
    progress: list[dict[str, Any]] = field(default_factory=list)
    deployment: dict[str, Any] | None = None
    error: str | None = None
    status_code: int | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    token: str | None = field(default=None, repr=False)  # deploy.auth's, until taken

    def take_token(self) -> str | None:
        """The token the deploy made (deploy.auth = "token"), once: the first caller that
        looks at the finished task gets it, nobody after (it stays in secret.json)."""
        token, self.token = self.token, None
        return token

    def report(self, message: str) -> None:
        self.progress.append({"t": round(time.time() - self.started_at, 2),
                              "message": message})

    def fail(self, error: str, status_code: int) -> None:
        self.error, self.status_code, self.state = error, status_code, "failed"
        self.finished_at = time.time()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, "label": self.label,
                "dry_run": self.dry_run, "state": self.state,
                "progress": list(self.progress), "deployment": self.deployment,
                "error": self.error, "status_code": self.status_code,
                "started_at": self.started_at, "finished_at": self.finished_at}


Work = Callable[[Callable[[str], None]], "Deployment"]


class DeployTasks:
    """Deploy work of one server: a small thread pool (so long deploys never hold the
    server's default executor) and the recent tasks, for polling."""

    def __init__(self, workers: int = POOL_SIZE) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(workers,
                                                           thread_name_prefix=THREAD_PREFIX)
        self._tasks: dict[str, DeployTask] = {}
        self._futures: dict[str, concurrent.futures.Future[None]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def start(self, kind: TaskKind, name: str | None, work: Work, *, label: str,
              project: str, dry_run: bool = False) -> DeployTask:
        """Run ``work(progress)`` in the pool; the task records its progress and outcome."""
        task = DeployTask(uuid.uuid4().hex[:12], kind, name, label=label, dry_run=dry_run,
                          project=project)

        def progress(message: str) -> None:
            if self._closing.is_set():
                raise DeployInterrupted(f"the {kind} was interrupted: the Jupyter server "
                                        "stopped")
            task.report(message)

        def run() -> None:
            try:
                deployment = work(progress)
                task.deployment = deployment.to_dict()
                task.token = deployment.new_token
                task.name = deployment.name
                task.state = "done"
                task.finished_at = time.time()
            except MLOpsError as exc:
                task.fail(str(exc), exc.http_status)
            except Exception as exc:  # a bug of ours: said, not swallowed
                task.fail(f"{type(exc).__name__}: {exc}", 500)

        with self._lock:
            if self._closing.is_set():
                raise BackendUnavailableError("the Jupyter server is stopping: deploy again "
                                              "once it is back")
            self._tasks[task.id] = task
            for old in list(self._tasks)[:-KEEP_TASKS]:
                if self._tasks[old].state != "running":
                    del self._tasks[old]
                    self._futures.pop(old, None)
            self._futures[task.id] = self._pool.submit(run)
        return task

    def of_project(self, project: str, state: TaskState | None = None) -> list[DeployTask]:
        """The kept tasks of one project (its deployments folder), newest first."""
        with self._lock:
            found = [t for t in self._tasks.values() if t.project == project]
        return [t for t in reversed(found) if state is None or t.state == state]

    def running(self) -> list[DeployTask]:
        with self._lock:
            return [t for t in self._tasks.values() if t.state == "running"]

    def get(self, task_id: str) -> DeployTask:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            raise NotFoundError(f"no deploy task '{task_id}' on this server (tasks are kept "
                                "until the server restarts)")
        return task

    def close(self, wait: float = CLOSE_WAIT_S) -> list[DeployTask]:
        """Refuse new tasks, cancel queued ones, interrupt running ones at their next step and
        wait up to ``wait`` seconds for them; the pool's threads end with them. Returns the
        tasks still running after the wait (none, normally). Blocking; idempotent."""
        with self._lock:
            self._closing.set()
            futures = dict(self._futures)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for task_id, future in futures.items():
            if future.cancelled():
                self._tasks[task_id].fail("not started: the Jupyter server stopped", 503)
        _, pending = concurrent.futures.wait(futures.values(), timeout=wait)
        if pending:
            return self.running()
        self._pool.shutdown(wait=True)  # the threads: each ends once its work has
        return []
