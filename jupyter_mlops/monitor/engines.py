"""A rule whose target is an engine: its retraining is a run of the notebook's exported
pipeline on that engine, started through the engine's REST API, and followed there.

Prefect (``target="prefect"``). The contract: the user exports the notebook and serves it,

    jupyter mlops pipeline export retrain.ipynb --target prefect --out flows
    python flows/retrain_flow.py serve        # Prefect's serve(): deployment retrain/retrain

and the rule, when it fires, asks the Prefect server at ``pipeline.prefect_url`` (default
``PREFECT_API_URL``, else Prefect's own default ``http://127.0.0.1:4200/api``) for the
deployment named after the pipeline (``<flow>/<flow>``, as the export serves it) and creates
a flow run of it (``POST /deployments/{id}/create_flow_run``) whose parameter
``mlops_trigger`` carries the trigger (the JSON ``MLOPS_TRIGGER`` holds for a local
retraining). The exported flow sets ``MLOPS_TRIGGER`` from it for the steps it runs, so every
run they track carries the tag ``mlops.trigger``. The rule records ``{"status": "running",
"engine": "prefect", "engine_run": <flow run id>, "url": <the run in Prefect's UI>}``; later
checks read the flow run's state (``GET /flow_runs/{id}``) into ``succeeded`` or ``failed``.

No credentials are sent (a Prefect server of one's own, without authentication); a server
that cannot be reached, or that has no such deployment, is one line in the rule's result.
Unlike a local retraining, the models the engine's runs log are not registered as the
deployment's ``candidate``: that is done by the local retraining process, which an engine
run does not have.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import BackendUnavailableError, NotFoundError, UserInputError

if TYPE_CHECKING:
    from ..config import Config
    from ..pipeline.model import Pipeline
    from .rules import Rule

__all__ = ["EngineTarget", "check_exportable", "poll", "start"]

#: the engines a rule can start (Airflow is not built yet)
EngineTarget = Literal["prefect"]
#: seconds one request to the engine may take
HTTP_TIMEOUT = 10.0
#: a Prefect flow run's state type -> the rule's result status (others: still running)
PREFECT_ENDED = {"COMPLETED": "succeeded", "FAILED": "failed", "CRASHED": "failed",
                 "CANCELLED": "failed"}
#: characters of an engine's answer quoted in an error
QUOTED = 200


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _pipeline(notebook: Path) -> Pipeline:
    from ..pipeline.notebook import from_notebook

    return from_notebook(notebook)


def check_exportable(notebook: Path, target: EngineTarget) -> None:
    """The notebook's pipeline can be exported for ``target`` (else the export's one line):
    what a rule of that target triggers is that export, served."""
    from ..pipeline.export import check_names, check_source, header_text, prefect_source

    pipeline = _pipeline(notebook)
    if not pipeline.steps:
        raise UserInputError(f"{notebook.name} has no code to run as a pipeline")
    check_names(pipeline, target)
    check_source(prefect_source(pipeline, None), target, header_text(pipeline, target, None))


def api_url(config: Config) -> str:
    """The Prefect API's base URL (``.../api``), checked to be http(s)."""
    url = str(config["pipeline.prefect_url"]).strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserInputError(f"pipeline.prefect_url {url!r} is not an http(s) URL of the "
                             "Prefect API (such as http://127.0.0.1:4200/api)")
    return url


def ui_url(api: str, flow_run: str) -> str | None:
    """The flow run in Prefect's UI (served beside its API), when the API URL ends in /api."""
    return f"{api[:-4]}/runs/flow-run/{flow_run}" if api.endswith("/api") else None


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    """The JSON answer of the engine; unreachable or an error status: one line."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read(QUOTED * 4).decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(json.loads(detail).get("detail", detail))
        text = " ".join(detail.split())[:QUOTED]
        error = NotFoundError if exc.code == 404 else BackendUnavailableError
        raise error(f"{method} {url} answered {exc.code}: {text}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BackendUnavailableError(f"cannot reach the Prefect API at {url} ({reason}): "
                                      "is the server running, and pipeline.prefect_url (or "
                                      "PREFECT_API_URL) its address?") from None
    except ValueError:
        raise BackendUnavailableError(f"{method} {url} did not answer JSON: not the Prefect "
                                      "API?") from None


def start(config: Config, name: str, rule: Rule, report: str, model: str
          ) -> dict[str, Any]:
    """Create a flow run of the served export of ``rule.then``; the rule's ``last_result``
    while it runs. Raises one line (BackendUnavailableError / NotFoundError) when it cannot."""
    from ..pipeline.export import TRIGGER_PARAMETER

    if rule.target != "prefect":  # a rules file edited by hand: rule() refuses the others
        raise UserInputError(f"rule {rule.id}: target {rule.target!r} is not supported yet")
    notebook = config.project_root / rule.then
    if not notebook.is_file():
        raise NotFoundError(f"rule {rule.id}: its notebook {rule.then} is gone")
    flow = _pipeline(notebook).name
    api = api_url(config)
    quoted = urllib.parse.quote(flow, safe="")
    try:
        deployment = _call("GET", f"{api}/deployments/name/{quoted}/{quoted}")
    except NotFoundError:
        raise NotFoundError(
            f"the Prefect server at {api} has no deployment {flow}/{flow}: serve the export "
            f"(jupyter mlops pipeline export {rule.then} --target prefect --out DIR, then "
            f"python DIR/{flow}_flow.py serve)") from None
    if not isinstance(deployment, dict) or not isinstance(deployment.get("id"), str):
        raise BackendUnavailableError(f"the Prefect server at {api} answered no deployment id")
    trigger = {"deployment": name, "rule": rule.id, "when": rule.when, "report": report,
               "model": model, "engine": "prefect"}
    run = _call("POST", f"{api}/deployments/{deployment['id']}/create_flow_run", {
        "parameters": {TRIGGER_PARAMETER: json.dumps(trigger)},
        "tags": ["jupyter-mlops", f"mlops-rule-{rule.id}"]})
    flow_run = run.get("id") if isinstance(run, dict) else None
    if not isinstance(flow_run, str):
        raise BackendUnavailableError(f"the Prefect server at {api} answered no flow run id")
    return {"status": "running", "engine": "prefect", "engine_run": flow_run,
            "url": ui_url(api, flow_run), "run_id": None, "log": None, "error": None,
            "notebook": rule.then, "started": _now(), "finished": None}


def poll(config: Config, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` (a running engine retraining) with the engine's state of its run: ended
    (succeeded or failed, ``finished`` set) or still running; an engine that cannot be asked
    leaves it running, with ``error`` saying why."""
    flow_run = result.get("engine_run")
    try:
        uuid.UUID(str(flow_run))
    except ValueError:
        return {**result, "status": "failed", "finished": _now(),
                "error": f"{str(flow_run)[:40]!r} is not a Prefect flow run id"}
    try:
        run = _call("GET", f"{api_url(config)}/flow_runs/{flow_run}")
    except NotFoundError:
        return {**result, "status": "failed", "finished": _now(),
                "error": f"the Prefect server has no flow run {flow_run} any more"}
    except (BackendUnavailableError, UserInputError) as exc:
        return {**result, "status": "running", "error": f"its state is unknown: {exc}"}
    state = run.get("state") if isinstance(run, dict) else None
    if not isinstance(state, dict):
        return {**result, "status": "running", "error": None}  # not scheduled yet
    ended = PREFECT_ENDED.get(str(state.get("type")))
    if ended is None:
        return {**result, "status": "running", "error": None}
    error = None
    if ended == "failed":
        message = " ".join(str(state.get("message") or "").split())[:QUOTED]
        error = f"the Prefect flow run ended {str(state.get('name') or state.get('type'))[:40]}" \
            + (f": {message}" if message else "")
    return {**result, "status": ended, "finished": _now(), "error": error}
