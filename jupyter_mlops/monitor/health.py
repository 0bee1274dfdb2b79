"""Health of monitor: the folder inference logs are written to; the summary says how many
deployments are watched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..checks import Check, check_writable, health_check, plural
from ..config import Config
from ..deploy.core import store_for
from .folders import log_status, monitoring_root
from .folders import monitoring_folder as monitoring_folder_of


@health_check("monitoring folder")
def monitoring_folder(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    return check_writable("monitoring folder", str(monitoring_root(config)),
                          config.project_root)


@health_check("inference logs")
def inference_logs(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    """Each deployment's log writer says in ``_status.json`` why it stopped, if it did
    (serving goes on without it)."""
    names = store_for(config).names()
    failing = [(name, status["error"]) for name in names
               if (status := log_status(monitoring_folder_of(config, name)))["error"]]
    if failing:
        name, error = failing[0]
        more = f" (and {plural(len(failing) - 1, 'more')})" if len(failing) > 1 else ""
        return Check("inference logs", False, f"{name}: {error}{more}", level="warning")
    dropped = sum(int(log_status(monitoring_folder_of(config, n))["dropped"] or 0)
                  for n in names)
    if dropped:
        return Check("inference logs", True, f"{plural(dropped, 'row')} dropped by full "
                     "buffers (the rest is logged)", level="warning")
    return Check("inference logs", True, f"{plural(len(names), 'deployment')} logging" if names
                 else "no deployment yet")


CHECKS = (monitoring_folder, inference_logs)


def summary(config: Config, checks: Sequence[Check]) -> str:
    """How many deployments are watched (metrics and an inference log each), or that the
    monitor is off."""
    if not config["monitor.enabled"]:
        return "off (monitor.enabled is false): no metrics, no inference log"
    count = len(store_for(config).names())
    rate = float(config["monitor.sample_rate"])
    sampled = f", logging {rate:.0%} of the requests" if rate < 1 else ""
    return f"watching {plural(count, 'deployment')}{sampled}"
