"""Monitor: every deployment measured and logged. Read what a deployment served (its
inference log, hourly Parquet partitions under ``.mlops/monitoring/<deployment>/``) and how
it is doing (request, latency, error and batch series from the serving process, totals from
its Prometheus ``/metrics``), how right it was once labels come in (``log_labels``,
``performance``); keep rules that start a retraining pipeline when they hold.

>>> import jupyter_mlops as mlops
>>> mlops.monitor.inferences("churn", since="1h", limit=100)   # a DataFrame, newest last
>>> mlops.monitor.summary("churn").to_text()
>>> mlops.monitor.log_labels("churn", truth)  # request_id + label columns
>>> mlops.monitor.performance("churn", "accuracy", by="1d")  # a DataFrame over time
>>> mlops.monitor.rule("churn", when="rows>10000", then="retrain.ipynb")
>>> mlops.monitor.check("churn")  # CheckResult: what held, what fired

Importing this package is cheap: its modules, pandas and pyarrow load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..verb import Capability, dispatched, lazy_exports

if TYPE_CHECKING:
    from .api import inferences, summary
    from .check import CheckResult, check
    from .labels import LabelsLogged, log_labels
    from .overview import MonitorSummary
    from .performance import performance
    from .rules import Rule, remove_rule, rule, rules

__all__ = ["CAPABILITY", "CheckResult", "LabelsLogged", "MonitorSummary", "Rule", "check",
           "inferences", "log_labels", "performance", "remove_rule", "rule", "rules",
           "summary"]

__getattr__, __dir__ = lazy_exports(globals(), {
    "inferences": "api", "summary": "api", "MonitorSummary": "overview",
    "log_labels": "labels", "LabelsLogged": "labels", "performance": "performance",
    **dict.fromkeys(["Rule", "remove_rule", "rule", "rules"], "rules"),
    **dict.fromkeys(["CheckResult", "check"], "check")})

_VERBS = "jupyter_mlops.monitor.verbs"
CAPABILITY = Capability("monitor", "Monitor", __name__, verbs=(
    dispatched(_VERBS, "monitor",
               "a deployment's requests, latency, errors and batch sizes over time"),
    dispatched(_VERBS, "inferences", "the requests a deployment logged, with their predictions"),
    dispatched(_VERBS, "labels", "log late ground truth for the requests a deployment answered"),
    dispatched(_VERBS, "performance",
               "a deployment's accuracy (f1, auc, rmse, mae) over time, against training"),
    dispatched(_VERBS, "rule", "add, list or remove the rules that start a retraining"),
    dispatched(_VERBS, "check", "evaluate a deployment's rules and fire those that hold"),
))
