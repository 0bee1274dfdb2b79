"""Monitor: every deployment measured and logged. Read what a deployment served (its
inference log, hourly Parquet partitions under ``.mlops/monitoring/<deployment>/``) and how
it is doing (request, latency, error and batch series from the serving process, totals from
its Prometheus ``/metrics``), whether its inputs drifted from the data its model was trained
on (``drift``, against the reference a tracked ``features.get`` captured), how right it was
once labels come in (``log_labels``, ``performance``); keep rules that start a retraining
pipeline when they hold.

>>> import jupyter_mlops as mlops
>>> mlops.monitor.inferences("churn", since="1h", limit=100)   # a DataFrame, newest last
>>> mlops.monitor.summary("churn").to_text()
>>> mlops.monitor.drift("churn", since="24h").drifted  # ['age']
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
    from .drift import drift
    from .drift_report import DriftReport, FeatureDrift
    from .labels import LabelsLogged, log_labels
    from .overview import MonitorSummary
    from .performance import performance
    from .profile import Profile, profile_frame
    from .reference import NoReference, Reference, load_reference, set_reference
    from .rules import Rule, remove_rule, rule, rules

__all__ = ["CAPABILITY", "CheckResult", "DriftReport", "FeatureDrift", "LabelsLogged",
           "MonitorSummary", "NoReference", "Profile", "Reference", "Rule", "check", "drift",
           "inferences", "load_reference", "log_labels", "performance", "profile_frame",
           "remove_rule", "rule", "rules", "set_reference", "summary"]

__getattr__, __dir__ = lazy_exports(globals(), {
    "inferences": "api", "summary": "api", "MonitorSummary": "overview",
    "drift": "drift", "DriftReport": "drift_report", "FeatureDrift": "drift_report",
    "Profile": "profile", "profile_frame": "profile",
    **dict.fromkeys(["NoReference", "Reference", "load_reference", "set_reference"],
                    "reference"),
    "log_labels": "labels", "LabelsLogged": "labels", "performance": "performance",
    **dict.fromkeys(["Rule", "remove_rule", "rule", "rules"], "rules"),
    **dict.fromkeys(["CheckResult", "check"], "check")})

_VERBS = "jupyter_mlops.monitor.verbs"
CAPABILITY = Capability("monitor", "Monitor", __name__, verbs=(
    dispatched(_VERBS, "monitor",
               "a deployment's requests, latency, errors and batch sizes over time"),
    dispatched(_VERBS, "inferences", "the requests a deployment logged, with their predictions"),
    dispatched(_VERBS, "drift",
               "which inputs drifted from the data the deployed model was trained on"),
    dispatched(_VERBS, "labels", "log late ground truth for the requests a deployment answered"),
    dispatched(_VERBS, "performance",
               "a deployment's accuracy (f1, auc, rmse, mae) over time, against training"),
    dispatched(_VERBS, "rule", "add, list or remove the rules that start a retraining"),
    dispatched(_VERBS, "check", "evaluate a deployment's rules and fire those that hold"),
))
