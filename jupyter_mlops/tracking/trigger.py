"""Runs a monitoring rule started: the rule's retraining process sets ``MLOPS_TRIGGER``
(JSON: ``{"deployment", "rule", "when", "report", "model"}``) for the pipeline it runs, and
every run started in it carries the tag ``mlops.trigger`` (that JSON: why it ran), and its
id is noted in the file ``MLOPS_TRIGGER_RUNS`` names, so that the retraining, once its
pipeline succeeded, registers the models those runs logged as the deployment's
``candidate`` (``monitor.retrain``; never deployed).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from .transport import MAX_TAG_LENGTH

if TYPE_CHECKING:
    from .lifecycle import ActiveRun

TRIGGER_ENV = "MLOPS_TRIGGER"
RUNS_ENV = "MLOPS_TRIGGER_RUNS"
TRIGGER_TAG = "mlops.trigger"
CANDIDATE_ALIAS = "candidate"


def current() -> dict[str, Any] | None:
    """The trigger of this process (None: no rule started it, or the variable is not an
    object naming a deployment)."""
    raw = os.environ.get(TRIGGER_ENV)
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("deployment"), str):
        return None
    return data


def run_tags() -> dict[str, str]:
    """The tags a run started now gets: ``mlops.trigger`` when a rule started this process."""
    data = current()
    if data is None:
        return {}
    text = json.dumps(data, sort_keys=True)
    if len(text) > MAX_TAG_LENGTH:  # the report is one line, but the variable is not ours
        data = {**data, "report": str(data.get("report", ""))[:500]}
        text = json.dumps(data, sort_keys=True)[:MAX_TAG_LENGTH]
    return {TRIGGER_TAG: text}


def note_run(run: ActiveRun) -> None:
    """Add the run's id to the trigger's runs file (one id a line)."""
    path = os.environ.get(RUNS_ENV)
    if not path or current() is None:
        return
    try:
        with open(path, "a", encoding="utf-8") as out:
            out.write(run.run_id + "\n")
    except OSError as exc:
        print(f"mlops: could not note run {run.run_id} for the monitoring rule "
              f"({exc})", file=sys.stderr)
