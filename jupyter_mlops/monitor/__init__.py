"""Monitor: every deployment measured and logged. Read what a deployment served (its
inference log, hourly Parquet partitions under ``.mlops/monitoring/<deployment>/``) and how
it is doing (request, latency, error and batch series from the serving process, totals from
its Prometheus ``/metrics``); keep rules that start a retraining pipeline when they hold.

>>> import jupyter_mlops as mlops
>>> mlops.monitor.inferences("churn", since="1h", limit=100)   # a DataFrame, newest last
>>> mlops.monitor.summary("churn").to_text()
>>> mlops.monitor.rule("churn", when="rows>10000", then="retrain.ipynb")
>>> mlops.monitor.check("churn")                                # CheckResult: what fired

Importing this package is cheap: its modules, pandas and pyarrow load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..verb import Capability, dispatched, lazy_exports

if TYPE_CHECKING:
    from .api import inferences, summary
    from .check import CheckResult, check
    from .overview import MonitorSummary
    from .rules import Rule, remove_rule, rule, rules

__all__ = ["CAPABILITY", "CheckResult", "MonitorSummary", "Rule", "check", "inferences",
           "remove_rule", "rule", "rules", "summary"]

__getattr__, __dir__ = lazy_exports(globals(), {
    "inferences": "api", "summary": "api", "MonitorSummary": "overview",
    **dict.fromkeys(["Rule", "remove_rule", "rule", "rules"], "rules"),
    **dict.fromkeys(["CheckResult", "check"], "check")})

_VERBS = "jupyter_mlops.monitor.verbs"
CAPABILITY = Capability("monitor", "Monitor", __name__, verbs=(
    dispatched(_VERBS, "monitor",
               "a deployment's requests, latency, errors and batch sizes over time"),
    dispatched(_VERBS, "inferences", "the requests a deployment logged, with their predictions"),
    dispatched(_VERBS, "rule", "add, list or remove the rules that start a retraining"),
    dispatched(_VERBS, "check", "evaluate a deployment's rules and fire those that hold"),
))
