import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { formatMetric } from '../format';
import { IComparison } from '../tokens';

/** Parameter differences (all parameters on demand) and the latest metrics. */
export function CompareTables(props: {
  comparison: IComparison;
  trans: TranslationBundle;
}): JSX.Element {
  const { comparison, trans } = props;
  const [all, setAll] = React.useState(false);
  const runs = comparison.runs;
  const differing = comparison.params.filter(p => p.differs);
  const params = all ? comparison.params : differing;
  const head = (
    <tr>
      <th />
      {runs.map(r => (
        <th key={r.run_id} title={r.run_id} data-run-id={r.run_id}>
          {comparison.labels[r.run_id]}
          <span className="jp-mlops-experiments-muted"> {r.status}</span>
        </th>
      ))}
    </tr>
  );
  return (
    <div className="jp-mlops-experiments-compare-tables">
      <h3 className="jp-mlops-experiments-subheading">
        {trans.__(
          'Parameters: %1 of %2 differ',
          differing.length,
          comparison.params.length
        )}
        <label className="jp-mlops-experiments-muted">
          <input
            type="checkbox"
            checked={all}
            onChange={e => setAll(e.currentTarget.checked)}
          />{' '}
          {trans.__('show all')}
        </label>
      </h3>
      {params.length === 0 ? (
        <p className="jp-mlops-experiments-muted">
          {comparison.params.length === 0
            ? trans.__('No parameters were logged.')
            : trans.__('Every parameter has the same value in these runs.')}
        </p>
      ) : (
        <table className="jp-mlops-experiments-table" data-kind="params">
          <thead>{head}</thead>
          <tbody>
            {params.map(p => (
              <tr
                key={p.key}
                data-param={p.key}
                data-differs={p.differs}
                className={p.differs ? 'jp-mlops-experiments-differs' : ''}
              >
                <th>{p.key}</th>
                {runs.map(r => (
                  <td key={r.run_id}>{p.values[r.run_id] ?? '—'}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3 className="jp-mlops-experiments-subheading">
        {trans.__('Metrics (latest)')}
      </h3>
      {comparison.metrics.length === 0 ? (
        <p className="jp-mlops-experiments-muted">
          {trans.__('No metrics were logged.')}
        </p>
      ) : (
        <table className="jp-mlops-experiments-table" data-kind="metrics">
          <thead>{head}</thead>
          <tbody>
            {comparison.metrics.map(m => (
              <tr key={m.key} data-metric={m.key}>
                <th>{m.key}</th>
                {runs.map(r => (
                  <td key={r.run_id} className="jp-mlops-experiments-number">
                    {formatMetric(m.values[r.run_id])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3 className="jp-mlops-experiments-subheading">
        {trans.__('Metric histories')}
      </h3>
    </div>
  );
}
