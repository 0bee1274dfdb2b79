"""Health of notebook pipelines: the artifact store, and which engines this Python has."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.util import find_spec

from ..checks import Check, check_writable, find, health_check
from ..config import Config

#: (shown name, module) of the engines a pipeline exports to
ENGINES = (("Airflow", "airflow"), ("Prefect", "prefect"), ("Kubeflow Pipelines", "kfp"))


@health_check("artifact store")
def artifact_store(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    return check_writable("artifact store", config["pipeline.artifacts"], config.project_root)


@health_check("engines")
def engines(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    """Which engines this Python can import (exports are written either way) and whether the
    local runner can hand on any value (cloudpickle)."""
    found = [name for name, module in ENGINES if find_spec(module)]
    missing = [name for name, _ in ENGINES if name not in found]
    parts = ["local runner ready"]
    if found:
        parts.append("importable here: " + ", ".join(found))
    if missing:
        parts.append("not installed here: " + ", ".join(missing)
                     + " (exports are written all the same)")
    if find_spec("cloudpickle") is None:
        return Check("engines", True, "; ".join(parts) + "; cloudpickle is missing, so steps "
                     "can hand on only values plain pickle saves: pip install cloudpickle",
                     level="warning")
    return Check("engines", True, "; ".join(parts))


CHECKS = (artifact_store, engines)


def summary(config: Config, checks: Sequence[Check]) -> str:
    """The configured runner, and the engines at hand."""
    return f"{config['pipeline.target']} runner; {find(checks, 'engines').message}"
