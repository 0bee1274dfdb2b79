"""Checking a deployment's rules: evaluate each condition over its window, and start the
retraining of each rule that holds, unless it fired less than its cooldown ago or its last
retraining is still running.

Windows: a ``rows`` rule counts the requests logged since it last fired (or was added); a
``drift`` or ``metric`` rule looks at the requests of the last ``cooldown`` seconds (at least
``MIN_WINDOW_S``): what the deployment serves now, and, when the cooldown lets the rule fire
again, exactly the traffic since it last could have fired. Inside the cooldown a rule that
holds is reported as held and skipped.

    mlops.monitor.check("churn")                 # CheckResult: what held, what fired
    mlops.monitor.check("churn", fire=False)     # the same, starting nothing, changing nothing

``PeriodicCheck`` is what the Jupyter server runs: every ``monitor.check_interval`` seconds
it checks the local deployments that have rules, on a thread of its own (never the event
loop).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from ..config import Config, load_config
from ..errors import MLOpsError
from . import engines, retrain
from .folders import require_known
from .log_store import log_hours
from .rules import Condition, Rule, load_rules, locked_rules, names_with_rules, read_time

__all__ = ["CheckResult", "PeriodicCheck", "RuleCheck", "check", "check_all"]

SkipReason = Literal["cooldown", "running"]
#: the shortest window a drift or metric rule looks at (seconds)
MIN_WINDOW_S = 600


@dataclass
class RuleCheck:
    """One rule's check: whether its condition ``holds`` (None: it could not be evaluated,
    ``reason`` says why), whether it ``fired``, or why it was ``skipped``."""

    id: str
    when: str
    holds: bool | None
    reason: str
    fired: bool = False
    skipped: SkipReason | None = None
    result: dict[str, Any] | None = None  # the rule's last_result after the check

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "when": self.when, "holds": self.holds, "fired": self.fired,
                "skipped": self.skipped, "reason": self.reason, "result": self.result}

    def __str__(self) -> str:
        if self.fired:
            state = "FIRED"
        elif self.skipped:
            state = f"skipped ({self.skipped})"
        else:
            state = {True: "holds", False: "ok", None: "not evaluated"}[self.holds]
        result = self.result or {}
        outcome = f"; retraining {result.get('status')} ({run_label(result)})" \
            if result.get("status") else ""
        return f"{self.id} {self.when}: {state}: {self.reason}{outcome}"


def run_label(result: dict[str, Any]) -> str:
    """The run a rule's result is about: the local pipeline run, or the engine's run."""
    if result.get("engine"):
        kind = "DAG run" if result["engine"] == "airflow" else "flow run"
        return f"{result['engine']} {kind} {result.get('engine_run')}"
    return f"run {result.get('run_id')}"


@dataclass
class CheckResult:
    """What ``check`` found for each rule of deployment ``name``."""

    name: str
    checked_at: str
    rules: list[RuleCheck] = field(default_factory=list)
    dry_run: bool = False

    @property
    def fired(self) -> list[str]:
        """The ids of the rules that started a retraining."""
        return [r.id for r in self.rules if r.fired]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "checked_at": self.checked_at, "dry_run": self.dry_run,
                "rules": [r.to_dict() for r in self.rules]}

    def to_text(self) -> str:
        head = f"{self.name}: {len(self.rules)} rule(s) checked at {self.checked_at}" \
            + (" (dry run: nothing started)" if self.dry_run else "")
        if not self.rules:
            return f"{self.name}: no rules (add one with mlops.monitor.rule)"
        return "\n".join([head, *(f"  {r}" for r in self.rules)])

    def __str__(self) -> str:
        return self.to_text()


# --------------------------------------------------------------------------- conditions


def window_start(config: Config, item: Rule, now: datetime) -> datetime:
    """Where rule ``item``'s window starts (see the module's docstring)."""
    if item.condition.kind == "rows":
        start = read_time(item.last_fired) or read_time(item.created)
        assert start is not None
        return start
    return now - timedelta(seconds=max(item.cooldown(config), MIN_WINDOW_S))


def count_rows(config: Config, name: str, since: datetime) -> int:
    """Requests ``name`` logged at or after ``since``."""
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    total = 0
    for hour in log_hours(config, name, since, None):
        table = hour.read(["timestamp"])
        if "timestamp" not in table.column_names:
            continue
        if hour.start >= since:
            total += table.num_rows
            continue
        stamps = table["timestamp"]
        total += int(pc.sum(pc.greater_equal(stamps, pa.scalar(since, stamps.type))).as_py()
                     or 0)
    return total


def _drift(config: Config, name: str, condition: Condition, since: datetime
           ) -> tuple[bool | None, str]:
    from .drift import drift

    report = drift(name, since=since, config=config)
    if not report.current_rows:
        return False, f"no logged requests since {since:%Y-%m-%d %H:%M} UTC"
    rows = {row.feature: row for row in report.rows}
    if condition.feature is not None and condition.feature not in rows:
        return None, (f"{condition.feature!r} is not compared (compared: "
                      + (", ".join(rows) or "none") + ")")
    watched = [rows[condition.feature]] if condition.feature is not None else list(rows.values())
    drifted = [r for r in watched if r.drifted]
    over = f"over {report.current_rows} requests since {since:%Y-%m-%d %H:%M} UTC"
    if not drifted:
        return False, f"no drift {over}"
    shown = ", ".join(f"{r.feature} ({r.method} {r.statistic or 0:.3g}, threshold "
                      f"{r.threshold:.3g})" for r in drifted[:5])
    more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
    return True, f"drifted: {shown}{more} {over}"


def _metric(config: Config, name: str, condition: Condition, since: datetime,
            now: datetime) -> tuple[bool | None, str]:
    from .performance import performance

    assert condition.metric is not None
    # one bucket holding the whole window: performance's buckets are whole multiples of
    # ``by`` since the Unix epoch, so a bucket longer than the time since then is the first
    whole = f"{math.ceil(now.timestamp()) + 86400}s"
    frame = performance(name, condition.metric, since=since, by=whole, config=config)
    if not len(frame):
        message = frame.attrs.get("message") or "no labelled requests"
        return None, f"{message} (since {since:%Y-%m-%d %H:%M} UTC)"
    value, rows = float(frame["value"].iloc[0]), int(frame["rows"].iloc[0])
    if math.isnan(value):
        return None, (f"{condition.metric} is undefined over the {rows} labelled requests "
                      f"since {since:%Y-%m-%d %H:%M} UTC")
    verdict = condition.holds(value)
    return verdict, (f"{condition.metric} {value:.4g} over {rows} labelled requests since "
                     f"{since:%Y-%m-%d %H:%M} UTC ({'' if verdict else 'not '}"
                     f"{condition.op} {condition.value:g})")


def evaluate(config: Config, name: str, item: Rule, now: datetime
             ) -> tuple[bool | None, str]:
    """Whether rule ``item`` holds now, and why (one line)."""
    condition = item.condition
    since = window_start(config, item, now)
    try:
        if condition.kind == "rows":
            count = count_rows(config, name, since)
            verdict = condition.holds(count)
            return verdict, (f"{count} requests logged since {since:%Y-%m-%d %H:%M} UTC "
                             f"({'' if verdict else 'not '}{condition.op} "
                             f"{int(condition.value or 0)})")
        if condition.kind == "drift":
            return _drift(config, name, condition, since)
        return _metric(config, name, condition, since, now)
    except MLOpsError as exc:
        return None, str(exc)


# --------------------------------------------------------------------------- check


def _config(config: Config | None, cwd: str | os.PathLike[str] | None) -> Config:
    return config if config is not None else load_config(cwd)


def check(name: str, *, fire: bool = True, cwd: str | os.PathLike[str] | None = None,
          config: Config | None = None) -> CheckResult:
    """Evaluate the rules of deployment ``name`` and, with ``fire``, start the retraining of
    each rule that holds and is out of its cooldown. ``fire=False`` is a dry run: nothing
    starts and the rules' state is left as it was."""
    config = _config(config, cwd)
    require_known(config, name)
    now = datetime.now(timezone.utc)
    loaded = load_rules(config, name)
    found = {item.id: evaluate(config, name, item, now) for item in loaded}
    result = CheckResult(name, now.isoformat(), dry_run=not fire)
    if not fire or not found:
        result.rules = [_decide(config, name, item, found[item.id], now, False)
                        for item in loaded]
        return result
    with locked_rules(config, name) as current:
        for item in current:
            if item.id in found:  # a rule added while this check ran waits for the next
                result.rules.append(_decide(config, name, item, found[item.id], now, True))
    return result


def _registered(config: Config, name: str, result: dict[str, Any]) -> dict[str, Any]:
    """An engine's retraining that just succeeded, with the models its tracked runs logged
    registered as the deployment's ``candidate`` (as a local retraining does)."""
    if result.get("status") != "succeeded" or not result.get("trigger_id"):
        return result
    model = str(result.get("model") or name)
    try:
        runs, candidates = retrain.engine_candidates(config, str(result["trigger_id"]), model)
    except MLOpsError as exc:
        return {**result, "error": f"the run succeeded, but its models were not registered "
                                   f"as {model}@candidate: {exc}"[:400]}
    return {**result, "tracked_runs": runs, "candidates": candidates}


def _decide(config: Config, name: str, item: Rule, verdict: tuple[bool | None, str],
            now: datetime, fire: bool) -> RuleCheck:
    """Fire rule ``item`` if it holds and may (changing ``item`` only when ``fire``)."""
    holds, reason = verdict
    last = dict(item.last_result) if item.last_result else None
    if last is not None and last.get("status") == "running":
        if last.get("engine"):
            last = _registered(config, name, engines.poll(config, last))
        elif not retrain.alive(last.get("pid")):
            last = retrain.lost(last)
    outcome = RuleCheck(item.id, item.when, holds, reason, result=last)
    if fire:
        item.last_checked = now.isoformat()
        item.last_result = last
    if holds is not True:
        return outcome
    fired_at = read_time(item.last_fired)
    cooldown = timedelta(seconds=item.cooldown(config))
    if last is not None and last.get("status") == "running":
        outcome.skipped = "running"
        outcome.reason += f"; its retraining ({run_label(last)}) is still running"
        return outcome
    if fired_at is not None and now - fired_at < cooldown:
        outcome.skipped = "cooldown"
        outcome.reason += (f"; fired at {fired_at:%Y-%m-%d %H:%M:%S} UTC, quiet until "
                           f"{fired_at + cooldown:%Y-%m-%d %H:%M:%S} UTC")
        return outcome
    if not fire:
        outcome.reason += "; would fire (dry run)"
        return outcome
    item.last_fired = now.isoformat()
    try:
        if item.target == "local":
            item.last_result = retrain.start(config, name, item, reason)
        else:
            model = retrain.registered_model(config, name) or name
            item.last_result = engines.start(config, name, item, reason, model)
    except MLOpsError as exc:
        item.last_result = {"status": "failed", "run_id": None, "log": None,
                            "error": f"the retraining did not start: {exc}",
                            "started": now.isoformat(), "finished": now.isoformat()}
        if item.target != "local":
            item.last_result["engine"] = item.target
    outcome.fired = True
    outcome.result = item.last_result
    return outcome


def check_all(config: Config, *, local_only: bool = True,
              on_error: Callable[[str, Exception], None] | None = None) -> list[CheckResult]:
    """Check every deployment of the project that has rules (``local_only``: those served
    by the local target, whose log is in the project)."""
    from ..deploy.core import store_for

    store = store_for(config)
    results = []
    for name in names_with_rules(config):
        try:
            if local_only and (not store.exists(name) or store.load(name).target != "local"):
                continue
            results.append(check(name, config=config))
        except Exception as exc:  # one deployment's bad rules file must not stop the rest
            if on_error is not None:
                on_error(name, exc)
    return results


class PeriodicCheck:
    """Checks the rules of the project at ``root`` every ``monitor.check_interval`` seconds
    (read again each time; 0: not at all) on a thread of its own, until ``close``."""

    #: seconds between two looks at a configuration that is off or unreadable
    IDLE_S = 60.0

    def __init__(self, root: str, log: Any = None) -> None:
        self.root = root
        self.log = log
        self.checks = 0  # checks completed (for the tests and the status)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlops-monitor-check",
                                        daemon=True)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def start(self) -> None:
        self._thread.start()

    def _interval(self) -> float:
        try:
            return float(load_config(self.root)["monitor.check_interval"])
        except MLOpsError as exc:
            self._warn(f"rules are not checked: {exc}")
            return 0.0

    def _warn(self, message: str) -> None:
        if self.log is not None:
            self.log.warning("jupyter_mlops: %s", message)

    def _loop(self) -> None:
        while not self._stop.is_set():
            interval = self._interval()
            if self._stop.wait(interval if interval > 0 else self.IDLE_S):
                return
            if interval > 0:
                self.run_once()

    def run_once(self) -> list[CheckResult]:
        """One check of every local deployment with rules (errors are logged, not raised)."""
        try:
            config = load_config(self.root)
            results = check_all(config, on_error=lambda name, exc: self._warn(
                f"checking the rules of {name} failed: {exc}"))
        except Exception as exc:
            self._warn(f"checking the monitoring rules failed: {exc}")
            results = []
        self.checks += 1
        for result in results:
            if result.fired and self.log is not None:
                self.log.info("jupyter_mlops: %s: rule(s) %s fired", result.name,
                              ", ".join(result.fired))
        return results

    def close(self, timeout: float = 30.0) -> None:
        """Stop checking; waits (up to ``timeout``) for a check in progress to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
