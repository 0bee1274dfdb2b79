"""A rule's retraining: the pipeline of its notebook, run by the local runner in a detached
child process (its own session: it outlives the kernel or server that fired the rule), which
records its outcome in the rule's state when it ends.

    python -m jupyter_mlops.monitor.retrain DEPLOYMENT RULE_ID NOTEBOOK --run-id ID

The child runs with ``MLOPS_TRIGGER`` set (JSON: the deployment, the rule, its condition
and the check's one-line report), so the runs its steps track say why they ran (see
``tracking.trigger``); once the pipeline succeeded, the models those runs logged are
registered under the deployment's registered model (or its name) with the alias
``candidate``: never deployed, promoting one is the user's call. Its output
(each step's progress, then the failing step's log) goes to
``<state_dir>/monitoring/rules/logs/<deployment>-<rule>-<run>.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config, load_config
from ..errors import BackendUnavailableError, MLOpsError, NotFoundError, UserInputError
from ..paths import make_folder
from ..tracking.trigger import CANDIDATE_ALIAS, RUNS_ENV, TRIGGER_ENV, TRIGGER_TAG, current
from .rules import Rule, locked_rules, now_iso, rules_folder

if TYPE_CHECKING:
    from ..pipeline.results import RunResult

#: characters of the failing step's log copied into the retraining's own log
STEP_LOG_TAIL = 20_000
#: bytes of a failed retraining's log kept with the rule, for the panel and the kernel
LOG_TAIL_BYTES = 4_000


def registered_model(config: Config, name: str) -> str | None:
    """The registered model deployment ``name`` serves now (None: it serves a run's model,
    or is not deployed any more)."""
    from ..deploy.core import store_for

    try:
        current = store_for(config).load(name).current
    except MLOpsError:
        return None
    return current.registered_name if current is not None else None


def start(config: Config, name: str, rule: Rule, report: str) -> dict[str, Any]:
    """Start the pipeline of ``rule.then`` in a detached child process; the rule's
    ``last_result`` while it runs (``status`` "running", the pipeline ``run_id``, ``log``)."""
    from ..pipeline.notebook import from_notebook
    from ..pipeline.results import new_run_id
    from ..pipeline.runner import mark_ended, starting_record

    notebook = config.project_root / rule.then
    if not notebook.is_file():
        raise NotFoundError(f"rule {rule.id}: its notebook {rule.then} is gone")
    pipeline = from_notebook(notebook)
    run_id = new_run_id()
    record = Path(starting_record(pipeline, run_id, {}).folder) / "run.json"  # listed at once
    logs = rules_folder(config) / "logs"
    make_folder(logs)
    log = logs / f"{name}-{rule.id}-{run_id}.log"
    trigger = {"deployment": name, "rule": rule.id, "when": rule.when, "report": report,
               "model": registered_model(config, name) or name, "run_id": run_id}
    env = {**os.environ, TRIGGER_ENV: json.dumps(trigger),
           RUNS_ENV: str(log.with_suffix(".runs"))}
    argv = [sys.executable, "-m", "jupyter_mlops.monitor.retrain", name, rule.id,
            str(notebook), "--run-id", run_id, "--project", str(config.project_root)]
    try:
        with open(log, "wb") as out:
            out.write(f"{now_iso()} rule {rule.id} of {name} ({rule.when}) fired: {report}\n"
                      .encode())
            out.flush()
            process = subprocess.Popen(argv, cwd=notebook.parent, env=env,
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        mark_ended(record, 1)
        raise BackendUnavailableError(f"the retraining process did not start: {exc}") from None
    return {"status": "running", "run_id": run_id, "log": str(log), "error": None,
            "pid": process.pid, "notebook": rule.then, "started": now_iso(),
            "finished": None, "tracked_runs": []}


def alive(pid: Any) -> bool:
    """A retraining process with this id is running (not a zombie of ours, and, where
    ``/proc`` tells, not another program that was given the id since)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our child, ended: reaped now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc here (or it went just now): trust the id
    return __name__.encode() in command


def lost(result: dict[str, Any]) -> dict[str, Any]:
    """The outcome of a retraining whose process ended without recording one."""
    return {**result, "status": "failed", "finished": now_iso(),
            "error": "the retraining process ended without recording its outcome: see its log"}


# --------------------------------------------------------------------------- the child


def _tracked_runs(log: Path) -> list[str]:
    try:
        text = log.with_suffix(".runs").read_text(encoding="utf-8")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def _failure(result: RunResult) -> tuple[str, str | None]:
    """The error line of a failed run and the failing step's log."""
    step = result.failed_step
    if step is None:
        return result.error or f"the run {result.state}", None
    return f"step {step.name!r} failed: {step.message}", step.log or None


def register_candidates(config: Config, runs: list[str], name: str) -> list[str]:
    """Register every model the tracked ``runs`` logged as a new version of ``name`` with
    the alias ``candidate`` (the last one registered keeps it); nothing is deployed."""
    from ..tracking.registry import register_run
    from ..tracking.run_rows import logged_model_names, models_of
    from ..tracking.store import get_run, reachable_client

    registered = []
    for run_id in runs:
        if run_id.startswith("pending-"):
            raise BackendUnavailableError(f"run {run_id} never reached the tracking store: "
                                          "its model was not registered")
        client = reachable_client(config)
        run = get_run(client, config, run_id)
        for entry in models_of(run, logged_model_names(client, [run])):
            registration = register_run(config, run_id, name, CANDIDATE_ALIAS, entry["uri"])
            registered.append(str(registration))
            print(f"registered {registration} (not deployed)", flush=True)
    return registered


def engine_candidates(config: Config, trigger_id: str, model: str
                      ) -> tuple[list[str], list[str]]:
    """The tracked runs an engine's retraining started (those whose ``mlops.trigger`` tag
    carries ``trigger_id``) and the models of theirs registered as ``model@candidate``."""
    from ..tracking.store import reachable_client

    if not re.fullmatch(r"[0-9a-f]{32}", trigger_id):  # from a rules file: untrusted
        raise UserInputError(f"{trigger_id[:40]!r} is not a trigger id")
    client = reachable_client(config)
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(
        experiments, filter_string=f"tags.`{TRIGGER_TAG}` LIKE '%{trigger_id}%'")
    runs = [run.info.run_id for run in found]
    return runs, register_candidates(config, runs, model)


def record(config: Config, name: str, rule_id: str, run_id: str,
           outcome: dict[str, Any]) -> None:
    """Write the outcome of run ``run_id`` into the rule's state (if the rule still
    exists and this run is still its last)."""
    with locked_rules(config, name) as found:
        for item in found:
            result = item.last_result or {}
            if item.id == rule_id and result.get("run_id") == run_id:
                item.last_result = {**result, **outcome, "finished": now_iso()}


def main(argv: Sequence[str] | None = None) -> int:
    from ..pipeline.notebook import from_notebook

    parser = argparse.ArgumentParser(prog="python -m jupyter_mlops.monitor.retrain")
    parser.add_argument("deployment")
    parser.add_argument("rule")
    parser.add_argument("notebook")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--project", required=True)
    args = parser.parse_args(argv)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    config = load_config(args.project)
    log = rules_folder(config) / "logs" / f"{args.deployment}-{args.rule}-{args.run_id}.log"
    outcome: dict[str, Any]
    started = time.monotonic()
    try:
        result = from_notebook(args.notebook).run(
            {}, run_id=args.run_id, refresh=True,  # today's data: no step from the cache
            on_progress=lambda e: print(f"{e.step}: {e.state} {e.message}".rstrip(), flush=True))
        if result.ok:
            model = (current() or {}).get("model") or args.deployment
            try:
                outcome = {"status": "succeeded", "error": None, "candidates":
                           register_candidates(config, _tracked_runs(log), model)}
            except MLOpsError as exc:
                outcome = {"status": "failed", "error": "the pipeline succeeded, but its model "
                           f"was not registered as {model}@{CANDIDATE_ALIAS}: {exc}"[:400]}
        else:
            error, step_log = _failure(result)
            outcome = {"status": "failed", "error": error, "step_log": step_log}
            if step_log:
                with contextlib.suppress(OSError):
                    text = Path(step_log).read_text(encoding="utf-8", errors="replace")
                    print(f"--- {step_log} ---\n{text[-STEP_LOG_TAIL:]}", flush=True)
    except KeyboardInterrupt:
        outcome = {"status": "failed", "error": "the retraining was stopped"}
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        outcome = {"status": "failed", "error": f"{type(exc).__name__}: {message}"[:300]}
    outcome["tracked_runs"] = _tracked_runs(log)
    outcome["seconds"] = round(time.monotonic() - started, 2)
    print(f"{now_iso()} {outcome['status']}"
          + (f": {outcome['error']}" if outcome.get("error") else ""), flush=True)
    if outcome["status"] == "failed":  # shown with the rule (panel, kernel) without a shell
        with contextlib.suppress(OSError), open(log, "rb") as handle:  # its own output
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - LOG_TAIL_BYTES))
            outcome["log_tail"] = handle.read().decode("utf-8", "replace")
    try:
        record(config, args.deployment, args.rule, args.run_id, outcome)
    except MLOpsError as exc:
        print(f"could not record the outcome: {exc}", flush=True)
        return 2
    return 0 if outcome["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
