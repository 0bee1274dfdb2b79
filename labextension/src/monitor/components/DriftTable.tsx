import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { histogramSpec, IQualityColors } from '../charts';
import { formatNumber } from '../format';
import { IDriftReport, IFeatureDrift } from '../tokens';
import { Sparkline } from './Sparkline';

export interface IDriftTableProps {
  report: IDriftReport;
  rendermime: IRenderMimeRegistry | null;
  colors: IQualityColors;
  trans: TranslationBundle;
}

/** A feature's row colour: drifted (red), ok (green), or nothing to compare (grey). */
export type DriftStatus = 'drifted' | 'ok' | 'none';

export function driftStatus(row: IFeatureDrift): DriftStatus {
  if (row.statistic === null || !Number.isFinite(row.statistic)) {
    return 'none';
  }
  return row.drifted ? 'drifted' : 'ok';
}

/** The dot's state of each status (base.css colours). */
const DOT: Record<DriftStatus, string> = {
  drifted: 'error',
  ok: 'ok',
  none: 'off'
};

/**
 * A deployment's drift against its reference, one row per feature: the status, the
 * statistic, the threshold and the method (a column when the features' methods
 * differ, else said once under the table). A click on a row (or its feature's
 * button) shows that feature's reference and current histograms under the table.
 * Without a reference the server's message says how to give one, as it is.
 */
export function DriftTable(props: IDriftTableProps): JSX.Element {
  const { report, rendermime, colors, trans } = props;
  const [selected, setSelected] = React.useState<string | null>(null);
  const rows = report.features;
  const shown = rows.some(r => r.feature === selected) ? selected : null;
  const status: Record<DriftStatus, string> = {
    drifted: trans.__('drifted'),
    ok: trans.__('ok'),
    none: trans.__('no data')
  };
  const histogramId = `jp-mlops-drift-histogram-${report.name}`;
  // one method for all (the default: psi for both kinds) is said once, not per row:
  // a narrow sidebar then fits the table
  const methods = new Set(rows.map(r => r.method));
  const oneMethod = methods.size === 1 ? [...methods][0] : null;
  return (
    <div className="jp-mlops-monitor-drift">
      {report.message && (
        <p className="jp-mlops-monitor-muted jp-mlops-monitor-drift-message">
          {report.message}
        </p>
      )}
      {report.reference && (
        <p className="jp-mlops-monitor-muted jp-mlops-monitor-drift-reference">
          {report.reference.origin
            ? trans.__(
                'Against %1; %2 logged rows',
                report.reference.origin,
                formatNumber(report.current_rows ?? null)
              )
            : trans.__(
                'Against the reference (%1 rows); %2 logged rows',
                formatNumber(report.reference.rows ?? null),
                formatNumber(report.current_rows ?? null)
              )}
        </p>
      )}
      {rows.length > 0 && (
        <div className="jp-mlops-monitor-table-scroll">
          <table className="jp-mlops-monitor-drift-table">
            <caption className="jp-mlops-monitor-muted">
              {oneMethod !== null && (
                <span data-field="method">
                  {trans.__('%1 on every feature. ', oneMethod)}
                </span>
              )}
              {trans.__('Select a feature to compare its histograms.')}
            </caption>
            <thead>
              <tr>
                <th scope="col" data-field="status">
                  <span className="jp-mlops-monitor-visually-hidden">
                    {trans.__('Status')}
                  </span>
                </th>
                <th scope="col">{trans.__('Feature')}</th>
                {oneMethod === null && (
                  <th scope="col">{trans.__('Method')}</th>
                )}
                <th
                  scope="col"
                  data-kind="number"
                  title={trans.__(
                    'The statistic against the reference (ks and chisquare: a p-value)'
                  )}
                >
                  {trans.__('Statistic')}
                </th>
                <th scope="col" data-kind="number">
                  {trans.__('Threshold')}
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map(row => {
                const state = driftStatus(row);
                const open = row.feature === shown;
                return (
                  <tr
                    key={row.feature}
                    data-feature={row.feature}
                    data-status={state}
                    data-method={row.method}
                    data-selected={open ? 'true' : undefined}
                    onClick={() => setSelected(open ? null : row.feature)}
                  >
                    <td data-field="status" title={status[state]}>
                      <span className="jp-mlops-dot" data-state={DOT[state]} />
                      <span className="jp-mlops-monitor-visually-hidden">
                        {status[state]}
                      </span>
                    </td>
                    <th scope="row">
                      <button
                        type="button"
                        className="jp-mlops-monitor-drift-feature"
                        aria-expanded={open}
                        aria-controls={open ? histogramId : undefined}
                        title={trans.__(
                          'Show the histograms of %1: reference vs current',
                          row.feature
                        )}
                      >
                        {row.feature}
                      </button>
                    </th>
                    {oneMethod === null && (
                      <td data-field="method">{row.method}</td>
                    )}
                    <td data-field="statistic" data-kind="number">
                      {formatNumber(row.statistic, 3)}
                    </td>
                    <td data-field="threshold" data-kind="number">
                      {formatNumber(row.threshold, 3)}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {report.missing && report.missing.length > 0 && (
        <p className="jp-mlops-monitor-muted jp-mlops-monitor-drift-missing">
          {trans.__(
            'Not in the reference (not compared): %1',
            report.missing.join(', ')
          )}
        </p>
      )}
      {shown !== null && (
        <Histogram
          id={histogramId}
          feature={shown}
          report={report}
          rendermime={rendermime}
          colors={colors}
          trans={trans}
        />
      )}
    </div>
  );
}

/** One feature's reference and current shares per bin, drawn by the Vega-Lite renderer. */
function Histogram(props: {
  id: string;
  feature: string;
  report: IDriftReport;
  rendermime: IRenderMimeRegistry | null;
  colors: IQualityColors;
  trans: TranslationBundle;
}): JSX.Element {
  const { id, feature, report, rendermime, colors, trans } = props;
  const histogram = report.histograms?.[feature];
  const fallback = trans.__('no Vega-Lite renderer in this JupyterLab');
  // drawn again only when the spec's text changes (Sparkline compares it)
  const spec = histogram
    ? histogramSpec(feature, histogram, colors, {
        reference: trans.__('reference'),
        current: trans.__('current'),
        bin: trans.__('bin'),
        rows: trans.__('rows'),
        share: trans.__('share')
      })
    : null;
  return (
    <section
      id={id}
      className="jp-mlops-monitor-histogram"
      data-feature={feature}
      aria-label={trans.__('%1: reference vs current', feature)}
    >
      <h4 className="jp-mlops-monitor-subheading">
        {trans.__('%1: reference vs current', feature)}
      </h4>
      {spec === null ? (
        <span className="jp-mlops-monitor-muted">
          {trans.__('No histogram of %1 in the report.', feature)}
        </span>
      ) : rendermime ? (
        <Sparkline rendermime={rendermime} spec={spec} fallback={fallback} />
      ) : (
        <span className="jp-mlops-monitor-muted">{fallback}</span>
      )}
    </section>
  );
}
