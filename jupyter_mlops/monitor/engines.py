"""A rule whose target is an engine: its retraining is a run of the notebook's exported
pipeline on that engine, started through the engine's REST API, and followed there.

The contract: the user exports the notebook and runs the export on the engine; the rule
triggers it by name (the pipeline's name: the notebook's, as the export names it).

Prefect (``target="prefect"``)::

    jupyter mlops pipeline export retrain.ipynb --target prefect --out flows
    python flows/retrain_flow.py serve        # Prefect's serve(): deployment retrain/retrain

A firing asks the Prefect API at ``pipeline.prefect_url`` (default ``PREFECT_API_URL``, else
Prefect's own default ``http://127.0.0.1:4200/api``) for the deployment ``<flow>/<flow>`` and
creates a flow run of it (``POST /deployments/{id}/create_flow_run``) with the parameter
``mlops_trigger``; later checks read ``GET /flow_runs/{id}``.

Airflow 3 (``target="airflow"``)::

    jupyter mlops pipeline export retrain.ipynb --target airflow --out $AIRFLOW_HOME/dags
    airflow dags unpause retrain

A firing asks Airflow's REST API at ``pipeline.airflow_url`` (default
``http://127.0.0.1:8080``) for the DAG (``GET /api/v2/dags/{dag_id}``: missing or paused is
one line) and triggers a DAG run (``POST /api/v2/dags/{dag_id}/dagRuns``) whose ``conf`` holds
``mlops_trigger``; later checks read ``GET /api/v2/dags/{dag_id}/dagRuns/{run_id}``.

Either way ``mlops_trigger`` carries the trigger (the JSON ``MLOPS_TRIGGER`` holds for a local
retraining); the export sets ``MLOPS_TRIGGER`` from it for the steps it runs, which then run
on today's data (none from the cache), and every MLflow run they track carries the tag
``mlops.trigger``. The rule records ``{"status": "running", "engine", "engine_pipeline" (the
deployment or DAG), "engine_run" (the flow run or DAG run id), "url" (the run in the engine's
UI)}``, and later checks turn it into ``succeeded`` or ``failed``.

No credentials are sent: an engine whose API asks for none (a Prefect server of one's own;
an Airflow whose auth manager lets the caller in). An engine that cannot be reached, or has
no such deployment or DAG, is one line in the rule's result. The trigger carries an id
(``trigger_id``); when a check sees the engine's run succeed, the runs tagged with it are
looked up in the tracking store and their models registered as the deployment's
``candidate`` (``check._registered``), as a local retraining does.
"""

from __future__ import annotations

import contextlib
import json
import re
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

#: the engines a rule can start a run on
EngineTarget = Literal["airflow", "prefect"]
#: seconds one request to an engine may take
HTTP_TIMEOUT = 10.0
#: an engine run's state -> the rule's result status (any other state: still running)
PREFECT_ENDED = {"COMPLETED": "succeeded", "FAILED": "failed", "CRASHED": "failed",
                 "CANCELLED": "failed"}
AIRFLOW_ENDED = {"success": "succeeded", "failed": "failed"}
#: characters of an engine's answer quoted in an error
QUOTED = 200
#: an Airflow DAG id or DAG run id as this code lets it into a URL (a rules file is untrusted)
_AIRFLOW_ID = re.compile(r"^[A-Za-z0-9_.:+\-]{1,250}$")
SETTING: dict[EngineTarget, tuple[str, str]] = {
    "prefect": ("pipeline.prefect_url", "the Prefect API (such as http://127.0.0.1:4200/api)"),
    "airflow": ("pipeline.airflow_url", "Airflow's API server (such as http://127.0.0.1:8080)"),
}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _pipeline(notebook: Path) -> Pipeline:
    from ..pipeline.notebook import from_notebook

    return from_notebook(notebook)


def check_exportable(notebook: Path, target: EngineTarget) -> None:
    """The notebook's pipeline can be exported for ``target`` (else the export's one line):
    what a rule of that target triggers is that export, run by the engine."""
    from ..pipeline.export import (
        airflow_source,
        check_names,
        check_source,
        header_text,
        prefect_source,
    )

    pipeline = _pipeline(notebook)
    if not pipeline.steps:
        raise UserInputError(f"{notebook.name} has no code to run as a pipeline")
    check_names(pipeline, target)
    source = (airflow_source if target == "airflow" else prefect_source)(pipeline, None)
    check_source(source, target, header_text(pipeline, target, None))


def base_url(config: Config, engine: EngineTarget) -> str:
    """The engine's API address from its setting, checked to be http(s)."""
    key, what = SETTING[engine]
    url = str(config[key]).strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserInputError(f"{key} {url!r} is not an http(s) URL of {what}")
    return url


def _call(engine: EngineTarget, method: str, url: str, body: dict[str, Any] | None = None
          ) -> Any:
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
        raise BackendUnavailableError(
            f"cannot reach {engine.capitalize()} at {url} ({reason}): is it running, and "
            f"{SETTING[engine][0]} its address?") from None
    except ValueError:
        raise BackendUnavailableError(f"{method} {url} did not answer JSON: not "
                                      f"{SETTING[engine][1].split(' (')[0]}?") from None


def start(config: Config, name: str, rule: Rule, report: str, model: str
          ) -> dict[str, Any]:
    """Start a run of the export of ``rule.then`` on the rule's engine; the rule's
    ``last_result`` while it runs. Raises one line (an MLOpsError) when it cannot."""
    from ..pipeline.export import TRIGGER_PARAMETER

    if rule.target not in SETTING:  # a rules file edited by hand: rule() refuses the others
        raise UserInputError(f"rule {rule.id}: target {rule.target!r} is not an engine")
    engine: EngineTarget = "airflow" if rule.target == "airflow" else "prefect"
    notebook = config.project_root / rule.then
    if not notebook.is_file():
        raise NotFoundError(f"rule {rule.id}: its notebook {rule.then} is gone")
    pipeline = _pipeline(notebook).name
    trigger_id = uuid.uuid4().hex  # the runs it tags are found by it, to register
    trigger = json.dumps({"deployment": name, "rule": rule.id, "when": rule.when,
                          "report": report, "model": model, "engine": engine,
                          "trigger_id": trigger_id})
    base = base_url(config, engine)
    if engine == "prefect":
        found = _start_prefect(base, pipeline, rule, {TRIGGER_PARAMETER: trigger})
    else:
        found = _start_airflow(base, pipeline, rule, {TRIGGER_PARAMETER: trigger})
    return {"status": "running", "engine": engine, **found, "run_id": None, "log": None,
            "error": None, "notebook": rule.then, "started": _now(), "finished": None,
            "trigger_id": trigger_id, "model": model}


def _start_prefect(api: str, flow: str, rule: Rule, parameters: dict[str, str]
                   ) -> dict[str, Any]:
    quoted = urllib.parse.quote(flow, safe="")
    try:
        deployment = _call("prefect", "GET", f"{api}/deployments/name/{quoted}/{quoted}")
    except NotFoundError:
        raise NotFoundError(
            f"the Prefect server at {api} has no deployment {flow}/{flow}: serve the export "
            f"(jupyter mlops pipeline export {rule.then} --target prefect --out DIR, then "
            f"python DIR/{flow}_flow.py serve)") from None
    if not isinstance(deployment, dict) or not isinstance(deployment.get("id"), str):
        raise BackendUnavailableError(f"the Prefect server at {api} answered no deployment id")
    run = _call("prefect", "POST", f"{api}/deployments/{deployment['id']}/create_flow_run",
                {"parameters": parameters, "tags": ["jupyter-mlops", f"mlops-rule-{rule.id}"]})
    flow_run = run.get("id") if isinstance(run, dict) else None
    if not isinstance(flow_run, str):
        raise BackendUnavailableError(f"the Prefect server at {api} answered no flow run id")
    ui = f"{api[:-4]}/runs/flow-run/{flow_run}" if api.endswith("/api") else None
    return {"engine_pipeline": f"{flow}/{flow}", "engine_run": flow_run, "url": ui}


def _airflow_run_url(base: str, dag_id: str, run_id: str) -> str:
    return f"{base}/dags/{dag_id}/runs/{urllib.parse.quote(run_id, safe='')}"


def _start_airflow(base: str, dag_id: str, rule: Rule, conf: dict[str, str]
                   ) -> dict[str, Any]:
    try:
        dag = _call("airflow", "GET", f"{base}/api/v2/dags/{dag_id}")
    except NotFoundError:
        raise NotFoundError(
            f"Airflow at {base} has no DAG {dag_id}: put the export in its DAGs folder "
            f"(jupyter mlops pipeline export {rule.then} --target airflow --out "
            "DAGS_FOLDER)") from None
    if isinstance(dag, dict) and dag.get("is_paused"):
        raise UserInputError(f"the DAG {dag_id} is paused in Airflow at {base}: a run would "
                             f"wait for ever; unpause it (airflow dags unpause {dag_id})")
    run = _call("airflow", "POST", f"{base}/api/v2/dags/{dag_id}/dagRuns", {
        "logical_date": None, "conf": conf,
        "note": f"started by jupyter-mlops monitoring rule {rule.id} ({rule.when})"})
    run_id = run.get("dag_run_id") if isinstance(run, dict) else None
    if not isinstance(run_id, str):
        raise BackendUnavailableError(f"Airflow at {base} answered no DAG run id")
    return {"engine_pipeline": dag_id, "engine_run": run_id,
            "url": _airflow_run_url(base, dag_id, run_id)}


def poll(config: Config, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` (a running engine retraining) with the engine's state of its run: ended
    (succeeded or failed, ``finished`` set) or still running; an engine that cannot be asked
    leaves it running, with ``error`` saying why."""
    engine = result.get("engine")
    run = str(result.get("engine_run"))
    pipeline = str(result.get("engine_pipeline"))
    try:
        if engine == "prefect":
            uuid.UUID(run)
            url = f"{base_url(config, 'prefect')}/flow_runs/{run}"
        elif engine == "airflow" and _AIRFLOW_ID.match(run) and _AIRFLOW_ID.match(pipeline):
            url = (f"{base_url(config, 'airflow')}/api/v2/dags/{pipeline}/dagRuns/"
                   f"{urllib.parse.quote(run, safe='')}")
        else:
            raise ValueError(engine)
    except ValueError:
        return {**result, "status": "failed", "finished": _now(),
                "error": f"{run[:60]!r} is not a run id of {str(engine)[:20]!r}"}
    except UserInputError as exc:
        return {**result, "status": "running", "error": f"its state is unknown: {exc}"}
    target: EngineTarget = "prefect" if engine == "prefect" else "airflow"
    try:
        answer = _call(target, "GET", url)
    except NotFoundError:
        return {**result, "status": "failed", "finished": _now(),
                "error": f"{target.capitalize()} has no run {run} any more"}
    except BackendUnavailableError as exc:
        return {**result, "status": "running", "error": f"its state is unknown: {exc}"}
    if engine == "prefect":
        state = answer.get("state") if isinstance(answer, dict) else None
        kind = str(state.get("type")) if isinstance(state, dict) else ""
        message = str(state.get("message") or "") if isinstance(state, dict) else ""
        ended = PREFECT_ENDED.get(kind)
    else:
        kind = str(answer.get("state")) if isinstance(answer, dict) else ""
        message = "see its task logs in Airflow"
        ended = AIRFLOW_ENDED.get(kind)
    if ended is None:
        return {**result, "status": "running", "error": None}
    error = None
    if ended == "failed":
        shown = " ".join(message.split())[:QUOTED]
        error = f"the {target.capitalize()} run ended {kind[:40]}" + (f": {shown}" if shown
                                                                       else "")
    return {**result, "status": ended, "finished": _now(), "error": error}
