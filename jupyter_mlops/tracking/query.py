"""The query side of tracking under its former single module's name: listing runs
(``listing.py``), comparing them (``comparison.py``) and registering a run's model
(``registry.py``) live in their own modules; this one only re-exports their public names for
callers that still import them from here.
"""

from __future__ import annotations

from .comparison import Comparison, compare, compare_runs, histories
from .listing import RunsPage, artifacts, run_detail, runs, search, sort_rows
from .registry import Registration, register, register_run
from .run_rows import RunRow, logged_model_names, models_of, row_of, run_url, shown_tags
from .store import reachable_client

__all__ = [
    "Comparison",
    "Registration",
    "RunRow",
    "RunsPage",
    "artifacts",
    "compare",
    "compare_runs",
    "histories",
    "logged_model_names",
    "models_of",
    "reachable_client",
    "register",
    "register_run",
    "row_of",
    "run_detail",
    "run_url",
    "runs",
    "search",
    "shown_tags",
    "sort_rows",
]
