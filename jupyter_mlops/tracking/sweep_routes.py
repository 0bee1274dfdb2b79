"""REST route of the Experiments panel's sweeps (registered in ``routes.py``'s ROUTES).

    GET  sweeps/ID?path=FOLDER
            Sweep ID (its parent run's id): {run: Run, summary: {study, metric, direction,
            planned, trials: N, counts: {running, complete, pruned, fail}, best_value,
            best_run_id} (as in GET runs' sweeps), param_names, trials: [{number, run_id,
            run_name, state, status, value, params, duration, models, error, url}] (at most
            1000; ``truncated`` beyond), active (a trial or the sweep still runs), best:
            {run_id, number, value, params, models} | null, charts: {history, parallel}
            (Vega-Lite v5 specs)}.
            A run that is not a sweep's parent: 404.

Registering and deploying the best trial's model go through the routes a run's model does
(``POST runs/ID/register``, the Deploy panel). MLflow is called in the executor, the call
bounded as the other tracking routes' are (a store that stops answering: 503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from tornado import web

from ..errors import BackendUnavailableError
from ..server.base import MLOpsHandler

T = TypeVar("T")
#: seconds one sweep's query may take (as ``routes.QUERY_TIMEOUT``)
QUERY_TIMEOUT = 30.0


class SweepHandler(MLOpsHandler):
    """``GET sweeps/ID``. (Not a ``routes.TrackingHandler``: routes.py imports this module.)"""

    async def bounded(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.wait_for(self.in_executor(fn, *args), QUERY_TIMEOUT)
        except asyncio.TimeoutError:
            raise BackendUnavailableError(
                f"the tracking store did not answer within {QUERY_TIMEOUT:g} s: check that it "
                "is running (%mlops status)") from None

    @web.authenticated
    async def get(self, run_id: str) -> None:
        from ..config import load_config
        from .sweep_runs import sweep_detail

        config = await self.in_executor(load_config, self.folder())
        self.reply(await self.bounded(sweep_detail, config, run_id))
