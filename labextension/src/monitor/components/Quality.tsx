import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { Button, HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IQualityColors, performanceSpec, themeColors } from '../charts';
import { formatNumber, latest } from '../format';
import { QualityModel } from '../quality';
import { IPerformanceReply, METRICS, MetricName } from '../tokens';
import { DriftTable } from './DriftTable';
import { CheckLine, Rules } from './Rules';
import { Sparkline } from './Sparkline';

export interface IQualityProps {
  /** The deployment shown. */
  name: string;
  model: QualityModel;
  rendermime: IRenderMimeRegistry | null;
  trans: TranslationBundle;
}

/**
 * Monitor II of one deployment: its drift against the reference, its performance on
 * labelled requests (when there are any), and its rules with the "Check now" button.
 */
export function Quality(props: IQualityProps): JSX.Element {
  const { name, model, rendermime, trans } = props;
  const target = model.target;
  const look =
    model.current && target && model.current.name === target.name
      ? model.current
      : null;
  const colors = themeColors();
  const loading = (
    <p className="jp-mlops-monitor-muted">{trans.__('Loading…')}</p>
  );
  return (
    <div className="jp-mlops-monitor-quality" data-deployment={name}>
      <section
        className="jp-mlops-monitor-drift-section"
        aria-label={trans.__('Drift')}
        aria-busy={model.isLoading}
      >
        <h3 className="jp-mlops-monitor-heading">
          {trans.__('Drift, last 24 hours')}
          {look?.drift && look.drift.features.length > 0 && (
            <span className="jp-mlops-monitor-muted" data-field="drifted">
              {' '}
              {trans.__(
                '(%1 of %2 drifted)',
                look.drift.features.filter(f => f.drifted).length,
                look.drift.features.length
              )}
            </span>
          )}
        </h3>
        {look === null ? (
          loading
        ) : look.driftError ? (
          <div className="jp-mlops-monitor-error" role="alert">
            {look.driftError}
          </div>
        ) : (
          look.drift && (
            <DriftTable
              key={name}
              report={look.drift}
              rendermime={rendermime}
              colors={colors}
              trans={trans}
            />
          )
        )}
      </section>
      {look && (
        <Performance
          reply={look.performance}
          error={look.performanceError}
          metric={model.metric}
          onMetric={metric => {
            model.metric = metric;
          }}
          rendermime={rendermime}
          colors={colors}
          trans={trans}
        />
      )}
      <section
        className="jp-mlops-monitor-rules-section"
        aria-label={trans.__('Rules')}
      >
        <div className="jp-mlops-monitor-heading-row">
          <h3 className="jp-mlops-monitor-heading">{trans.__('Rules')}</h3>
          <Button
            small
            className="jp-mlops-monitor-check"
            disabled={model.isChecking || target === null}
            aria-busy={model.isChecking}
            title={trans.__(
              'Evaluate the rules now: a rule that holds starts its notebook (outside its cooldown)'
            )}
            onClick={() => void model.check()}
          >
            {model.isChecking ? trans.__('Checking…') : trans.__('Check now')}
          </Button>
        </div>
        {model.lastCheck && (
          <CheckLine outcome={model.lastCheck} trans={trans} />
        )}
        {look === null ? (
          loading
        ) : look.rulesError ? (
          <div className="jp-mlops-monitor-error" role="alert">
            {look.rulesError}
          </div>
        ) : (
          look.rules && <Rules name={name} rules={look.rules} trans={trans} />
        )}
      </section>
    </div>
  );
}

/**
 * The metric over time when labels joined logged requests, the training run's value
 * as a dashed rule; otherwise the server's line (how to log labels) or its error.
 */
function Performance(props: {
  reply: IPerformanceReply | null;
  error: string | null;
  metric: MetricName;
  onMetric: (metric: MetricName) => void;
  rendermime: IRenderMimeRegistry | null;
  colors: IQualityColors;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { reply, error, rendermime, colors, trans } = props;
  if (reply === null && error === null) {
    return null;
  }
  const points = reply?.points ?? [];
  const fallback = trans.__('no Vega-Lite renderer in this JupyterLab');
  // labels joined requests (or the metric does not fit them): another metric may
  const choosing = points.length > 0 || error !== null;
  return (
    <section
      className="jp-mlops-monitor-performance"
      aria-label={trans.__('Performance')}
      data-points={points.length}
    >
      <div className="jp-mlops-monitor-heading-row">
        <h3 className="jp-mlops-monitor-heading">
          {trans.__('Performance')}
          {reply && points.length > 0 && (
            <span className="jp-mlops-monitor-muted" data-field="performance">
              {' '}
              {typeof reply.training === 'number'
                ? trans.__(
                    '%1 now, %2 in training',
                    formatNumber(latest(points.map(p => p.value)), 3),
                    formatNumber(reply.training, 3)
                  )
                : trans.__(
                    '%1 now',
                    formatNumber(latest(points.map(p => p.value)), 3)
                  )}
            </span>
          )}
        </h3>
        {choosing && (
          <HTMLSelect
            className="jp-mlops-monitor-metric"
            aria-label={trans.__('Metric')}
            value={props.metric}
            onChange={event =>
              props.onMetric(event.currentTarget.value as MetricName)
            }
          >
            {METRICS.map(m => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </HTMLSelect>
        )}
      </div>
      {error !== null ? (
        <div className="jp-mlops-monitor-error" role="alert">
          {error}
        </div>
      ) : reply && points.length > 0 ? (
        rendermime ? (
          <Sparkline
            rendermime={rendermime}
            spec={performanceSpec(reply, colors, {
              time: trans.__('from'),
              value: reply.metric,
              rows: trans.__('labelled rows'),
              training: trans.__('training')
            })}
            fallback={fallback}
          />
        ) : (
          <span className="jp-mlops-monitor-muted">{fallback}</span>
        )
      ) : (
        <p className="jp-mlops-monitor-muted jp-mlops-monitor-no-labels">
          {reply?.message ?? trans.__('No labelled requests in the window.')}
        </p>
      )}
    </section>
  );
}
