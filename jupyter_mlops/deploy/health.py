"""Health of deploy: the GPU local serving would use, and the folder deployments are kept in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..checks import Check, check_gpu, check_writable, find, health_check
from ..config import Config


@health_check("GPU")
def gpu(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    return check_gpu(timeout)


@health_check("deployment store")
def deployment_store(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    return check_writable("deployment store", config["deploy.path"], config.project_root)


CHECKS = (gpu, deployment_store)


def summary(config: Config, checks: Sequence[Check]) -> str:
    """The configured target, and what local serving runs on."""
    found = find(checks, "GPU")
    shown = found.message if found.level == "ok" else "CPU only (no GPU visible)"
    return f"{config['deploy.target']} target; GPU: {shown}"
