"""Health of experiment tracking: the MLflow store, and the points still on their way to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..checks import Check, check_tracking, find, health_check, plural, relative
from ..config import Config


@health_check("tracking store")
def tracking_store(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    withheld = None if config.sends_credentials() else config.trust_hint()
    return check_tracking(config["tracking.uri"], config.project_root, timeout, environ,
                          withheld)


@health_check("logging queue")
def logging_queue(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    """Points waiting to reach the tracking store: in this process's queue and in the
    journals under ``.mlops/`` (which hold them while the store is unreachable)."""
    from .journal import backlog, journal_dir
    from .sender import queue_status

    name = "logging queue"
    queue = queue_status()
    journals, points = backlog(config.state_dir)
    where = relative(journal_dir(config.state_dir), config.project_root)
    message = (f"{queue['queued']} points queued; {points} in {plural(journals, 'journal')} "
               f"({where}); {queue['sent']} sent")
    if queue["offline"]:
        return Check(name, True, f"{message}; store unreachable, retrying: "
                     f"{queue['last_error']}", level="warning")
    if points:
        return Check(name, True, f"{message}; sent when a kernel tracks a run here "
                     "and the store answers", level="warning")
    if queue["last_error"]:
        return Check(name, True, f"{message}; last error: {queue['last_error']}",
                     level="warning")
    return Check(name, True, message)


CHECKS = (tracking_store, logging_queue)


def summary(config: Config, checks: Sequence[Check]) -> str:
    """The store and how many experiments it holds."""
    return find(checks, "tracking store").message
