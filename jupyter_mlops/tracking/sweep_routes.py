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

from tornado import web

from .handler import TrackingHandler


class SweepHandler(TrackingHandler):
    """``GET sweeps/ID``."""

    @web.authenticated
    async def get(self, run_id: str) -> None:
        from .sweep_runs import sweep_detail

        config = await self.project_config(self.folder())
        self.reply(await self.bounded(sweep_detail, config, run_id))
