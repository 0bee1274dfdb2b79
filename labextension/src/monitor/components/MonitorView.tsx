import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import { InlineCode } from '../../components/InlineCode';
import { chartWindow, themeColors, sparklineSpec, WINDOW_MS } from '../charts';
import { formatNumber, formatRate, hasTraffic, latest } from '../format';
import { IMonitorLook, MonitorModel } from '../model';
import { IMonitorSummary, SparklineId } from '../tokens';
import { InferenceTable } from './InferenceTable';
import { Quality } from './Quality';
import { Sparkline } from './Sparkline';

export interface IMonitorViewProps {
  model: MonitorModel;
  rendermime: IRenderMimeRegistry | null;
  trans: TranslationBundle;
}

/**
 * The Monitor panel: the project's deployments (one chosen), the chosen one's
 * version, device and totals, sparklines of its last hour, its drift against the
 * reference, its performance, its rules, and its latest logged requests.
 */
export function MonitorView(props: IMonitorViewProps): JSX.Element {
  const { model, trans } = props;
  const look = model.current;
  const deployments = look?.reply.deployments ?? [];
  return (
    <div className="jp-mlops-monitor" aria-busy={model.isLoading}>
      {model.failure && (
        <div className="jp-mlops-monitor-error" role="alert">
          {model.failure}
        </div>
      )}
      {look === null && !model.failure && (
        <p className="jp-mlops-monitor-muted">{trans.__('Loading…')}</p>
      )}
      {look && deployments.length === 0 && (
        <p className="jp-mlops-monitor-muted jp-mlops-monitor-empty">
          <InlineCode
            text={trans.__(
              'No deployment yet — deploy a model from the Deploy panel or `%mlops deploy`'
            )}
          />
        </p>
      )}
      {look && look.name !== null && (
        <>
          {deployments.length > 1 && (
            <HTMLSelect
              className="jp-mlops-monitor-select"
              aria-label={trans.__('Deployment')}
              value={look.name}
              onChange={event => {
                model.selected = event.currentTarget.value;
              }}
            >
              {deployments.map(d => (
                <option key={d.name} value={d.name}>
                  {`${d.name} (${d.status})`}
                </option>
              ))}
            </HTMLSelect>
          )}
          <DeploymentMonitor look={look} {...props} />
        </>
      )}
    </div>
  );
}

/**
 * One deployment: its header, facts, sparklines, drift, performance and rules, and
 * latest requests.
 */
function DeploymentMonitor(
  props: IMonitorViewProps & { look: IMonitorLook }
): JSX.Element {
  const { look, model, rendermime, trans } = props;
  const listed = look.reply.deployments.find(d => d.name === look.name);
  const summary = look.summary;
  const name = look.name ?? '';
  const status = summary?.status ?? listed?.status ?? '';
  return (
    <div
      className="jp-mlops-monitor-deployment"
      data-deployment={name}
      data-status={status}
    >
      <div className="jp-mlops-monitor-header">
        <span className="jp-mlops-dot" data-state={statusState(status)} />
        <span className="jp-mlops-monitor-name">{name}</span>
        <span className="jp-mlops-monitor-status">{status}</span>
        {(summary?.target ?? listed?.target) && (
          <span className="jp-mlops-monitor-tag">
            {summary?.target ?? listed?.target}
          </span>
        )}
      </div>
      {look.error && (
        <div className="jp-mlops-monitor-error" role="alert">
          {look.error}
        </div>
      )}
      {summary === null && !look.error && (
        <p className="jp-mlops-monitor-muted">{trans.__('Loading…')}</p>
      )}
      {summary && <Facts summary={summary} trans={trans} />}
      {summary && (
        <Sparklines summary={summary} rendermime={rendermime} trans={trans} />
      )}
      <Quality
        name={name}
        model={model.quality}
        rendermime={rendermime}
        trans={trans}
      />
      {look.inferences && (
        <>
          <h3 className="jp-mlops-monitor-heading">
            {trans.__('Latest requests')}
            <span className="jp-mlops-monitor-muted">
              {' '}
              ({look.inferences.total})
            </span>
          </h3>
          <InferenceTable name={name} reply={look.inferences} trans={trans} />
        </>
      )}
    </div>
  );
}

/** Version(s), device, totals since the serving process started, the log's state. */
function Facts(props: {
  summary: IMonitorSummary;
  trans: TranslationBundle;
}): JSX.Element {
  const { summary: s, trans } = props;
  const versions =
    s.versions.length > 1
      ? s.versions
          .map(v =>
            typeof v.traffic === 'number'
              ? `${v.version} (${v.traffic}%)`
              : String(v.version)
          )
          .join(', ')
      : String(s.version ?? s.versions[0]?.version ?? '-');
  const log = s.log;
  return (
    <dl className="jp-mlops-monitor-facts">
      <dt>
        {s.versions.length > 1 ? trans.__('Versions') : trans.__('Version')}
      </dt>
      <dd data-field="version">{versions}</dd>
      <dt>{trans.__('Device')}</dt>
      <dd data-field="device">{s.device ?? '-'}</dd>
      {s.totals.available !== false && (
        <>
          <dt>{trans.__('Requests')}</dt>
          <dd data-field="requests">
            {formatNumber(s.totals.requests)}
            <span className="jp-mlops-monitor-muted">
              {' '}
              {trans.__(
                '(%1 server errors, %2 refused)',
                formatNumber(s.totals.errors ?? 0),
                formatNumber(s.totals.client_errors ?? 0)
              )}
            </span>
          </dd>
        </>
      )}
      <dt>{trans.__('Logged')}</dt>
      <dd
        data-field="log"
        data-state={
          log.error ? 'error' : (log.dropped ?? 0) > 0 ? 'warning' : 'ok'
        }
      >
        {log.error
          ? log.error
          : trans.__(
              '%1 rows (%2 dropped, %3 sampled out)',
              formatNumber(log.rows_written),
              formatNumber(log.dropped ?? 0),
              formatNumber(log.sampled_out ?? 0)
            )}
      </dd>
      {s.message && (
        <>
          <dt>{trans.__('Note')}</dt>
          <dd data-field="message">{s.message}</dd>
        </>
      )}
    </dl>
  );
}

/** The four sparklines of the last hour, each with its newest value. */
function Sparklines(props: {
  summary: IMonitorSummary;
  rendermime: IRenderMimeRegistry | null;
  trans: TranslationBundle;
}): JSX.Element {
  const { summary, rendermime, trans } = props;
  const series = summary.series;
  const colors = themeColors();
  const words = {
    until: trans.__('until'),
    series: trans.__('series'),
    value: trans.__('value')
  };
  const rows: { id: SparklineId; label: string; value: string }[] = [
    {
      id: 'rps',
      label: trans.__('Requests/s'),
      value: formatNumber(latest(series.rps))
    },
    {
      id: 'latency',
      label: trans.__('Latency p50 / p99'),
      value: `${formatNumber(latest(series.p50_ms))} / ${formatNumber(
        latest(series.p99_ms)
      )} ms`
    },
    {
      id: 'error_rate',
      label: trans.__('Error rate'),
      value: formatRate(latest(series.error_rate))
    },
    {
      id: 'batch_size',
      label: trans.__('Batch size'),
      value: formatNumber(latest(series.batch_size))
    }
  ];
  const fallback = trans.__('no Vega-Lite renderer in this JupyterLab');
  return (
    <div className="jp-mlops-monitor-sparklines">
      <h3 className="jp-mlops-monitor-heading">
        {windowTitle(series, trans)}
        {!hasTraffic(series) && (
          <span className="jp-mlops-monitor-muted">
            {' '}
            {trans.__('(no requests)')}
          </span>
        )}
      </h3>
      {rows.map(row => (
        <div
          key={row.id}
          className="jp-mlops-monitor-sparkline"
          data-series={row.id}
        >
          <span className="jp-mlops-monitor-sparkline-label">{row.label}</span>
          <span className="jp-mlops-monitor-sparkline-value">{row.value}</span>
          {rendermime ? (
            <Sparkline
              rendermime={rendermime}
              spec={sparklineSpec(series, row.id, colors, words)}
              fallback={fallback}
            />
          ) : (
            <span className="jp-mlops-monitor-muted">{fallback}</span>
          )}
        </div>
      ))}
    </div>
  );
}

/** What the sparklines span: the last hour, or the minutes since the process started. */
function windowTitle(
  series: IMonitorSummary['series'],
  trans: TranslationBundle
): string {
  const [start, end] = chartWindow(series);
  const minutes = Math.max(1, Math.round((end - start) / 60000));
  return end - start >= WINDOW_MS - 60000
    ? trans.__('Last hour')
    : trans._n('Last minute', 'Last %1 minutes', minutes);
}

/** A deployment's status as a dot's state. */
function statusState(status: string): string {
  switch (status) {
    case 'serving':
      return 'ok';
    case 'starting':
    case 'restarting':
      return 'warning';
    case 'failed':
    case 'dead':
    case 'unresponsive':
      return 'error';
    default:
      return 'off';
  }
}
