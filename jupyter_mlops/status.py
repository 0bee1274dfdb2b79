"""Health of each capability's backend, measured (not assumed), each check bounded in time.

``collect_status()`` is what ``%mlops status``, ``jupyter mlops status`` and
``GET /mlops/api/status`` all report. It knows no capability by name: it walks the registry
(``commands.capabilities()``) and runs each one's ``health.CHECKS``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, cast

from ._version import __version__
from .checks import Check, Health, Level
from .commands import capabilities
from .config import load_config, redact
from .errors import ConfigError
from .verb import Context


@dataclass
class CapabilityStatus:
    id: str
    title: str
    summary: str
    checks: list[Check] = field(default_factory=list)

    @property
    def state(self) -> Level:
        levels = {c.level for c in self.checks}
        return "error" if "error" in levels else "warning" if "warning" in levels else "ok"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state
        return data


@dataclass
class StatusReport:
    version: str
    elapsed_ms: float
    config: dict[str, Any] | None
    config_error: str | None
    capabilities: list[CapabilityStatus]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "config_error": self.config_error,
            "config": self.config,
            "capabilities": [c.to_dict() for c in self.capabilities],
        }

    @property
    def ok(self) -> bool:
        return self.config_error is None and all(c.state != "error" for c in self.capabilities)

    def to_text(self) -> str:
        """Plain-text rendering for terminals and frontends without HTML."""
        marks = {"ok": "✓", "warning": "!", "error": "✗"}
        lines = [f"jupyter-mlops {self.version}"]
        if self.config_error:
            lines.append(f"config error: {self.config_error}")
        if self.config:
            lines.append(f"project root: {self.config['project_root']}")
            shown = self.config["config_file"] or "(none: embedded defaults)"
            lines.append(f"config file:  {shown}")
            for value in self.config["values"]:
                if value["key"] == "tracking.uri":
                    lines.append(f"tracking URI: {value['value']}  [{value['source']}]")
        for cap in self.capabilities:
            lines.append("")
            lines.append(f"{marks[cap.state]} {cap.title}: {cap.summary}")
            for check in cap.checks:
                lines.append(f"    {marks[check.level]} {check.name}: {check.message}"
                             f"  ({check.elapsed_ms:.0f} ms)")
        return "\n".join(lines)


# --------------------------------------------------------------------------- running checks


class _RunningCheck:
    """A check running in a daemon thread, so a stuck probe can be reported as timed out and
    left to finish on its own (every probe also bounds its own I/O)."""

    def __init__(self, name: str, fn: Callable[[], Check]) -> None:
        self.name = name
        self._fn = fn
        self._result: Check | None = None
        self._thread = threading.Thread(target=self._run, name=f"mlops-status-{name}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            check = self._fn()
        except Exception as exc:  # a failing probe is a finding, not a crash
            check = Check(self.name, False, f"{type(exc).__name__}: {exc}")
        check.elapsed_ms = (time.perf_counter() - start) * 1000
        self._result = check

    def result(self, deadline: float, limit: float) -> Check:
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._result is not None:
            return self._result
        return Check(self.name, False, f"timed out after {limit:g} s", elapsed_ms=limit * 1000)


# --------------------------------------------------------------------------- the report


def collect_status(start: str | os.PathLike[str] | None = None,
                   environ: Mapping[str, str] | None = None,
                   timeout: float | None = None,
                   default_timeout: float | None = None) -> StatusReport:
    """Resolve the config and run every capability's checks in parallel, each within
    ``timeout`` seconds; without it, the ``status.timeout`` setting where the user set one,
    else ``default_timeout`` (the server's option), else 3 s."""
    began = time.perf_counter()
    env = os.environ if environ is None else environ
    try:
        config = load_config(start, env)
    except ConfigError as exc:
        return StatusReport(__version__, (time.perf_counter() - began) * 1000, None,
                            redact(str(exc)), [])
    if timeout is None and default_timeout is not None and config.source(
            "status.timeout") == "default":
        timeout = default_timeout
    limit = float(timeout if timeout is not None else config["status.timeout"])
    planned = []
    for capability in capabilities():
        health = cast(Health, importlib.import_module(f"{capability.package}.health"))
        running = [_RunningCheck(check.name, partial(check, config, limit, env))
                   for check in health.CHECKS]
        planned.append((capability, health, running))
    deadline = time.monotonic() + limit
    reports = []
    for capability, health, running in planned:
        checks = [check.result(deadline, limit) for check in running]
        for check in checks:  # a credential inside a URL of any message is never shown
            check.message = redact(check.message)
        failed = next((c for c in checks if c.level == "error"), None)
        # one line per capability: what failed first, else its own summary
        summary = failed.message if failed else redact(health.summary(config, checks))
        reports.append(CapabilityStatus(capability.id, capability.title, summary, checks))
    return StatusReport(__version__, (time.perf_counter() - began) * 1000, config.report(),
                        None, reports)


def run_status(args: argparse.Namespace, ctx: Context) -> StatusReport:
    """The ``status`` verb: the report for the project around the working folder."""
    return collect_status(ctx.cwd, timeout=args.timeout,
                          default_timeout=ctx.options.get("status_timeout"))
