"""Where a deployment's monitoring data lives: ``<state_dir>/monitoring/<deployment>/``,
holding the hourly Parquet partitions of its inference log and the writer's ``_status.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import Config
from ..deploy.core import store_for
from ..deploy.state import check_name
from .inference_log import STATUS_FILE, log_folder


def monitoring_root(config: Config) -> Path:
    """The folder holding every deployment's ``log_folder``."""
    return config.state_dir / "monitoring"


def monitoring_folder(config: Config, name: str) -> Path:
    """Where ``name``'s inference log and its ``_status.json`` are kept (the serving
    process's own ``log_folder``)."""
    return log_folder(config.state_dir, check_name(name))


def require_known(config: Config, name: str) -> Path:
    """``name``'s monitoring folder, if ``name`` is a deployment or was one (its log stays
    after an undeploy); a NotFoundError naming the deployments otherwise."""
    folder = monitoring_folder(config, name)
    store = store_for(config)
    if not store.exists(name) and not folder.is_dir():
        store.load(name)  # raises NotFoundError, listing the deployments there are
    return folder


def log_status(folder: Path) -> dict[str, Any]:
    """The log writer's ``_status.json``: rows written, dropped, sampled out, its error."""
    status: dict[str, Any] = {"rows_written": 0, "dropped": 0, "sampled_out": 0,
                              "error": None, "updated": None}
    try:
        status.update(json.loads((folder / STATUS_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        status["error"] = f"{folder / STATUS_FILE} is unreadable ({exc})"
    return status
