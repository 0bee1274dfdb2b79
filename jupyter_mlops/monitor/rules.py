"""Monitoring rules: when a deployment drifts, loses accuracy or has served enough new
requests, start its retraining notebook's pipeline.

    mlops.monitor.rule("churn", when="drift", then="retrain.ipynb")
    mlops.monitor.rule("churn", when="metric:accuracy<0.8", then="retrain.ipynb")
    mlops.monitor.rule("churn", when="rows>10000", then="retrain.ipynb", cooldown="6h")

``when`` is read by a tiny grammar (never evaluated as code):

    drift                 any compared column drifted (``monitor.drift`` with the project's
                          methods and thresholds)
    drift:FEATURE         that column drifted
    metric:NAME OP VALUE  the labelled requests' NAME (accuracy, f1, auc, rmse, mae) compared
                          with VALUE; OP is <, <=, > or >=
    rows OP COUNT         requests logged since the rule last fired or was added; OP is > or >=

The rules of a deployment, with each rule's state (last check, last firing, the outcome of
the retraining it started), are kept in ``<state_dir>/monitoring/rules/<deployment>.json``,
written atomically under a lock (a kernel, the CLI and the server may write at once) and
validated whenever read: the file may have been edited by hand or come from anywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, cast, get_args

from ..config import Config, load_config
from ..deploy.state import NAME_RE, check_name, write_json
from ..errors import NotFoundError, PathOutsideRootError, UserInputError
from ..paths import make_folder
from .folders import monitoring_root
from .timespan import parse_duration

__all__ = ["Condition", "Rule", "RuleTarget", "parse_when", "remove_rule", "rule", "rules"]

RuleTarget = Literal["local", "airflow", "prefect"]
TARGETS: tuple[RuleTarget, ...] = get_args(RuleTarget)
#: what a retraining started by this rule is doing or did
ResultStatus = Literal["running", "succeeded", "failed"]
RESULT_STATUSES: tuple[ResultStatus, ...] = get_args(ResultStatus)
ConditionKind = Literal["drift", "metric", "rows"]
Comparison = Literal["<", "<=", ">", ">="]
#: the metrics ``monitor.performance`` computes by name
RuleMetric = Literal["accuracy", "f1", "auc", "rmse", "mae"]
METRICS: tuple[RuleMetric, ...] = get_args(RuleMetric)

WHEN_HELP = ("give 'drift', 'drift:FEATURE', 'metric:NAME<VALUE' (NAME one of "
             + ", ".join(METRICS) + "; <, <=, > or >=) or 'rows>COUNT'")
_DRIFT = re.compile(r"^drift(?::([A-Za-z0-9_.\-]+))?$")
_METRIC = re.compile(r"^metric:([A-Za-z0-9_]+)\s*(<=|>=|<|>)\s*"
                     r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)$")
_ROWS = re.compile(r"^rows\s*(>=|>)\s*(\d+)$")
_ID = re.compile(r"^[0-9a-f]{8}$")
#: a rules file larger than this is not read (it is not one this code wrote)
MAX_FILE_BYTES = 1_000_000
MAX_RULES = 100


@dataclass(frozen=True)
class Condition:
    """A parsed ``when``."""

    kind: ConditionKind
    feature: str | None = None  # drift:FEATURE
    metric: RuleMetric | None = None  # metric:NAME
    op: Comparison | None = None  # metric and rows
    value: float | None = None  # metric and rows

    def holds(self, observed: float) -> bool:
        """``observed`` compared with the threshold (metric and rows conditions)."""
        assert self.op is not None and self.value is not None
        return {"<": observed < self.value, "<=": observed <= self.value,
                ">": observed > self.value, ">=": observed >= self.value}[self.op]

    def __str__(self) -> str:
        if self.kind == "drift":
            return f"drift:{self.feature}" if self.feature else "drift"
        if self.kind == "rows":
            return f"rows{self.op}{int(self.value or 0)}"
        return f"metric:{self.metric}{self.op}{self.value:g}"


def parse_when(text: Any) -> Condition:
    """``text`` as a Condition; anything else is one line saying what is accepted."""
    if not isinstance(text, str) or not text.strip():
        raise UserInputError(f"a rule needs a condition: {WHEN_HELP}")
    when = text.strip()
    match = _DRIFT.match(when)
    if match:
        return Condition("drift", feature=match.group(1))
    match = _METRIC.match(when)
    if match:
        name, op, value = match.groups()
        if name.lower() not in METRICS:
            raise UserInputError(f"cannot read the condition {when!r}: metric {name!r} is not "
                                 f"one of {', '.join(METRICS)}")
        return Condition("metric", metric=cast(RuleMetric, name.lower()), op=cast(Comparison, op),
                         value=float(value))
    match = _ROWS.match(when)
    if match:
        return Condition("rows", op=cast(Comparison, match.group(1)),
                         value=float(int(match.group(2))))
    if when.startswith("rows"):
        raise UserInputError(f"cannot read the condition {when!r}: give rows>COUNT or "
                             "rows>=COUNT (requests logged since the rule last fired)")
    raise UserInputError(f"cannot read the condition {when!r}: {WHEN_HELP}")


def parse_cooldown(value: Any) -> int | None:
    """Whole seconds (a number, a ``timedelta`` or text: ``90``, ``30m``, ``6h``, ``1d``);
    None: the project's ``monitor.cooldown``."""
    if value is None:
        return None
    return int(parse_duration(value, "cooldown").total_seconds())


def now_iso() -> str:
    """Now, to the microsecond: a rule's window starts at such a time, and requests logged
    in the same second before it are not in it."""
    return datetime.now(timezone.utc).isoformat()


def read_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class Rule:
    """One rule of a deployment and its state."""

    id: str
    when: str  # as parse_when normalises it
    then: str  # the notebook, relative to the project root (posix)
    target: RuleTarget = "local"
    cooldown_s: int | None = None  # None: the project's monitor.cooldown
    created: str = field(default_factory=now_iso)
    last_checked: str | None = None
    last_fired: str | None = None
    last_result: dict[str, Any] | None = None

    @property
    def condition(self) -> Condition:
        return parse_when(self.when)

    def cooldown(self, config: Config) -> int:
        """Seconds after a firing during which this rule does not fire again."""
        return self.cooldown_s if self.cooldown_s is not None else \
            int(config["monitor.cooldown"])

    def to_dict(self) -> dict[str, Any]:
        """``cooldown_s`` null: the project's ``monitor.cooldown``."""
        return {"id": self.id, "when": self.when, "then": self.then, "target": self.target,
                "cooldown_s": self.cooldown_s, "created": self.created,
                "last_checked": self.last_checked, "last_fired": self.last_fired,
                "last_result": self.last_result}

    def __str__(self) -> str:
        fired = f", last fired {self.last_fired}" if self.last_fired else ", never fired"
        result = self.last_result or {}
        outcome = f" ({result.get('status')})" if result.get("status") else ""
        return f"{self.id}: when {self.when} then {self.then} [{self.target}]{fired}{outcome}"

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Rule:
        """A rule from the file ``where``; a UserInputError naming what is wrong."""
        if not isinstance(data, dict):
            raise UserInputError(f"{where}: a rule is not an object")
        bad = _rule_problem(data)
        if bad:
            raise UserInputError(f"{where}: rule {str(data.get('id'))[:20]!r}: {bad}")
        return cls(id=data["id"], when=str(parse_when(data["when"])), then=data["then"],
                   target=data.get("target", "local"), cooldown_s=data.get("cooldown_s"),
                   created=data["created"], last_checked=data.get("last_checked"),
                   last_fired=data.get("last_fired"), last_result=data.get("last_result"))


def _is_time(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _rule_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with a rule read from a file (None: nothing)."""
    if not isinstance(data.get("id"), str) or not _ID.match(data["id"]):
        return "its id is not 8 hex digits"
    try:
        parse_when(data.get("when"))
    except UserInputError as exc:
        return str(exc)
    then = data.get("then")
    if not isinstance(then, str) or not then.endswith(".ipynb") or then.startswith("/") \
            or ".." in Path(then).parts:
        return "'then' is not a notebook path inside the project"
    if data.get("target", "local") not in TARGETS:
        return f"'target' is not one of {', '.join(TARGETS)}"
    cooldown = data.get("cooldown_s")
    if cooldown is not None and (isinstance(cooldown, bool) or not isinstance(cooldown, int)
                                 or cooldown < 0):
        return "'cooldown_s' is not a number of seconds"
    if data.get("created") is None or not all(
            _is_time(data.get(k)) for k in ("created", "last_checked", "last_fired")):
        return "a time is not an ISO 8601 time with an offset"
    result = data.get("last_result")
    if result is None:
        return None
    if not isinstance(result, dict) or result.get("status") not in RESULT_STATUSES:
        return "'last_result' has no known status"
    texts = ("run_id", "log", "log_tail", "error", "notebook", "step_log", "started",
             "finished", "engine", "engine_pipeline", "engine_run", "url", "trigger_id",
             "model")
    if any(result.get(k) is not None and not isinstance(result[k], str) for k in texts) \
            or any(not isinstance(result.get(k, []), list)
                   or not all(isinstance(v, str) for v in result.get(k, []))
                   for k in ("tracked_runs", "candidates")) \
            or (result.get("pid") is not None and type(result["pid"]) is not int):
        return "'last_result' has a field of the wrong type"
    return None


# --------------------------------------------------------------------------- storage


def rules_folder(config: Config) -> Path:
    return monitoring_root(config) / "rules"


def rules_file(config: Config, name: str) -> Path:
    return rules_folder(config) / f"{check_name(name)}.json"


def load_rules(config: Config, name: str) -> list[Rule]:
    """The rules of ``name`` as stored (none: an empty list); a bad file is one line."""
    path = rules_file(config, name)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UserInputError(f"{path} is unreadable ({exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UserInputError(f"{path} is larger than {MAX_FILE_BYTES} bytes: not a rules file "
                             "this project wrote; fix or delete it")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise UserInputError(f"{path} is not JSON ({exc}): fix or delete it") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list) \
            or len(data["rules"]) > MAX_RULES:
        raise UserInputError(f"{path} is not a rules file ({{\"rules\": [...]}}, at most "
                             f"{MAX_RULES}): fix or delete it")
    found = [Rule.from_dict(item, str(path)) for item in data["rules"]]
    if len({r.id for r in found}) != len(found):
        raise UserInputError(f"{path}: two rules have the same id: fix or delete it")
    return found


def save_rules(config: Config, name: str, found: list[Rule]) -> None:
    write_json(rules_file(config, name), {"rules": [r.to_dict() for r in found]})


@contextlib.contextmanager
def locked_rules(config: Config, name: str) -> Iterator[list[Rule]]:
    """The rules of ``name`` under the file's lock; what the block leaves in the list is
    written back (atomically) when it ends without an exception."""
    folder = rules_folder(config)
    make_folder(folder / ".locks")
    with open(folder / ".locks" / f"{check_name(name)}.lock", "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            found = load_rules(config, name)
            before = [r.to_dict() for r in found]
            yield found
            if [r.to_dict() for r in found] != before:
                save_rules(config, name, found)
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def names_with_rules(config: Config) -> list[str]:
    """The deployments that have a rules file."""
    folder = rules_folder(config)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if p.is_file()
                  and NAME_RE.match(p.stem))


# --------------------------------------------------------------------------- the API


def _config(config: Config | None, cwd: str | os.PathLike[str] | None) -> Config:
    return config if config is not None else load_config(cwd)


def notebook_inside(config: Config, then: Any, cwd: str | os.PathLike[str] | None) -> str:
    """``then`` (relative to ``cwd``, default the project root) as a path relative to the
    project root; a notebook outside the project or missing is one line."""
    if not isinstance(then, str) or not then.strip():
        raise UserInputError("a rule needs a notebook to run: then='retrain.ipynb'")
    root = config.project_root.resolve()
    base = Path(cwd).resolve() if cwd is not None else root
    path = (base / then.strip()).resolve()
    if path != root and root not in path.parents:
        raise PathOutsideRootError(f"then={then!r} is outside the project ({root}): the "
                                   "retraining notebook must be one of the project's files")
    if path.suffix != ".ipynb":
        raise UserInputError(f"then={then!r} is not a notebook (.ipynb)")
    if not path.is_file():
        raise NotFoundError(f"then={then!r}: no such notebook ({path})")
    return path.relative_to(root).as_posix()


def rule(name: str, when: str, then: str, *, target: str = "local",
         cooldown: float | str | timedelta | None = None,
         cwd: str | os.PathLike[str] | None = None, config: Config | None = None) -> Rule:
    """Add a rule to deployment ``name``: when ``when`` holds, start the pipeline of the
    notebook ``then`` (checked by ``monitor.check``, and by the Jupyter server every
    ``monitor.check_interval`` seconds): with the local runner, or (``target="prefect"`` or
    ``"airflow"``) as a run of its export on that engine (see ``monitor.engines``). Returns
    the stored rule."""
    from .folders import require_known

    config = _config(config, cwd)
    require_known(config, name)
    condition = parse_when(when)
    if target not in TARGETS:
        raise UserInputError(f"target {target!r} is not one of {', '.join(TARGETS)}")
    relative = notebook_inside(config, then, cwd)
    _readable_pipeline(config.project_root / relative)
    if target != "local":
        from .engines import check_exportable

        check_exportable(config.project_root / relative,
                         "airflow" if target == "airflow" else "prefect")
    new = Rule(uuid.uuid4().hex[:8], str(condition), relative, target,
               parse_cooldown(cooldown))
    with locked_rules(config, name) as found:
        if len(found) >= MAX_RULES:
            raise UserInputError(f"deployment {name!r} has {MAX_RULES} rules already: remove "
                                 "some first")
        found.append(new)
    return new


def _readable_pipeline(notebook: Path) -> None:
    """The notebook reads as a pipeline (else one line naming the cell)."""
    from ..pipeline.notebook import from_notebook

    pipeline = from_notebook(notebook)
    if not pipeline.steps:
        raise UserInputError(f"{notebook.name} has no code to run as a pipeline")


def rules(name: str, *, cwd: str | os.PathLike[str] | None = None,
          config: Config | None = None) -> list[Rule]:
    """The rules of deployment ``name``, with their last firing and its outcome."""
    config = _config(config, cwd)
    check_name(name)
    if not rules_file(config, name).is_file():
        from .folders import require_known

        require_known(config, name)  # an unknown deployment is a NotFoundError, not no rules
    return load_rules(config, name)


def remove_rule(name: str, rule_id: str, *, cwd: str | os.PathLike[str] | None = None,
                config: Config | None = None) -> Rule:
    """Remove rule ``rule_id`` of deployment ``name``; returns it."""
    config = _config(config, cwd)
    check_name(name)
    with locked_rules(config, name) as found:
        for index, item in enumerate(found):
            if item.id == rule_id:
                return found.pop(index)
        known = ", ".join(r.id for r in found) or "none"
    raise NotFoundError(f"deployment {name!r} has no rule {rule_id!r} (its rules: {known})")
