"""Health of monitor: the folder inference logs are written to; the summary says how many
deployments are watched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..checks import Check, check_writable, health_check, plural
from ..config import Config
from ..deploy.core import store_for
from .folders import monitoring_root


@health_check("monitoring folder")
def monitoring_folder(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    return check_writable("monitoring folder", str(monitoring_root(config)),
                          config.project_root)


CHECKS = (monitoring_folder,)


def summary(config: Config, checks: Sequence[Check]) -> str:
    """How many deployments are watched (metrics and an inference log each), or that the
    monitor is off."""
    if not config["monitor.enabled"]:
        return "off (monitor.enabled is false): no metrics, no inference log"
    count = len(store_for(config).names())
    rate = float(config["monitor.sample_rate"])
    sampled = f", logging {rate:.0%} of the requests" if rate < 1 else ""
    return f"watching {plural(count, 'deployment')}{sampled}"
