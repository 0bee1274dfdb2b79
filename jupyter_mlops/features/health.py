"""Health of the feature store: the embedded store's folder and what it holds, or the Feast
repository the settings point at."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path

from ..checks import Check, check_writable, health_check, relative
from ..config import Config


@health_check("feature store")
def feature_store(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    name = "feature store"
    if config["features.backend"] == "feast":
        repo = config["features.repo"]
        if not repo:
            return Check(name, False, "backend is feast but features.repo is not set")
        if not (Path(repo) / "feature_store.yaml").is_file():
            return Check(name, False, f"{repo} has no feature_store.yaml")
        if find_spec("feast") is None:
            return Check(name, False, "Feast is not installed: pip install 'jupyter-mlops[feast]'")
        return Check(name, True, f"Feast repository {repo}")
    writable = check_writable(name, config["features.path"], config.project_root)
    if writable.level == "error" or "://" in str(config["features.path"]):
        return writable  # an S3 store is not probed here
    if find_spec("duckdb") is None or find_spec("pyarrow") is None:
        return Check(name, False, "the embedded store needs duckdb and pyarrow: "
                     "pip install 'jupyter-mlops[features]'")
    from .api import describe_store

    ok, holds = describe_store(config)
    return Check(name, ok, f"{writable.message}; {holds}")


CHECKS = (feature_store,)


def summary(config: Config, checks: Sequence[Check]) -> str:
    """Which store, and where."""
    path = config["features.path"]
    if config["features.backend"] == "feast":
        where = config["features.repo"]
    elif "://" in path:
        where = path
    else:
        where = relative(Path(path), config.project_root)
    return f"{config['features.backend']} store at {where}"
