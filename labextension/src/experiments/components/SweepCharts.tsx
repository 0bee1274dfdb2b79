import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { Sparkline } from '../../monitor/components/Sparkline';
import { ISweepDetail } from '../tokens';

/**
 * A sweep's two charts, drawn by JupyterLab's Vega-Lite renderer (as the monitor's
 * charts and the compare view's): the optimization history (each completed trial's
 * value and the best so far) and the parallel coordinates of the parameters against
 * the objective. The specs come from the server (`GET sweeps/ID`).
 */
export function SweepCharts(props: {
  detail: ISweepDetail;
  rendermime: IRenderMimeRegistry | null;
  trans: TranslationBundle;
}): JSX.Element {
  const { detail, rendermime, trans } = props;
  const completed = detail.summary.counts.complete;
  if (completed === 0) {
    return (
      <p className="jp-mlops-experiments-muted" data-kind="no-chart">
        {trans.__('The charts show once a trial has completed.')}
      </p>
    );
  }
  const charts: [string, string][] = [
    ['history', trans.__('Optimization history')],
    ['parallel', trans.__('Parameters against %1', detail.summary.metric)]
  ];
  return (
    <div className="jp-mlops-sweep-charts">
      {charts.map(([id, title]) => (
        <figure key={id} className="jp-mlops-sweep-chart" data-chart={id}>
          <figcaption>{title}</figcaption>
          {rendermime ? (
            <Sparkline
              rendermime={rendermime}
              spec={detail.charts[id as 'history' | 'parallel']}
              fallback={trans.__(
                'This JupyterLab has no Vega-Lite renderer: the trials are in the table below.'
              )}
            />
          ) : (
            <p className="jp-mlops-experiments-muted">
              {trans.__('No renderer for charts here.')}
            </p>
          )}
        </figure>
      ))}
    </div>
  );
}
