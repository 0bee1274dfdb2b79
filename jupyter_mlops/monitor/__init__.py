"""Monitor: every deployment measured and logged. Read what a deployment served (its
inference log, hourly Parquet partitions under ``.mlops/monitoring/<deployment>/``) and how
it is doing (request, latency, error and batch series from the serving process, totals from
its Prometheus ``/metrics``).

>>> import jupyter_mlops as mlops
>>> mlops.monitor.inferences("churn", since="1h", limit=100)   # a DataFrame, newest last
>>> mlops.monitor.summary("churn").to_text()

Importing this package is cheap: its modules, pandas and pyarrow load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..verb import Capability, dispatched, lazy_exports

if TYPE_CHECKING:
    from .api import inferences, summary
    from .overview import MonitorSummary

__all__ = ["CAPABILITY", "MonitorSummary", "inferences", "summary"]

__getattr__, __dir__ = lazy_exports(globals(), {
    "inferences": "api", "summary": "api", "MonitorSummary": "overview"})

_VERBS = "jupyter_mlops.monitor.verbs"
CAPABILITY = Capability("monitor", "Monitor", __name__, verbs=(
    dispatched(_VERBS, "monitor",
               "a deployment's requests, latency, errors and batch sizes over time"),
    dispatched(_VERBS, "inferences", "the requests a deployment logged, with their predictions"),
))
