import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ExternalLink } from '../../components/links';
import {
  baseName,
  formatDuration,
  formatMetric,
  formatTime,
  runLabel,
  statusState
} from '../format';
import { ExperimentsModel, RunsList } from '../model';
import { ScopeToggle } from './Scope';
import { SweepBadge } from './SweepDetails';

/** The main-area table: every run, paged and sortable, with params and metrics. */
export function RunsTable(props: {
  list: RunsList;
  model: ExperimentsModel;
  onCompare: () => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { list, model, trans } = props;
  const page = list.page;
  const header = (key: string, label: string): JSX.Element => {
    const sorted = list.sort === key;
    return (
      <th
        key={key}
        aria-sort={
          sorted ? (list.order === 'asc' ? 'ascending' : 'descending') : 'none'
        }
      >
        <button
          className="jp-mlops-experiments-sort"
          data-sort={key}
          onClick={() => list.sortBy(key)}
        >
          {label}
          {sorted ? (list.order === 'asc' ? ' ▲' : ' ▼') : ''}
        </button>
      </th>
    );
  };
  const first = page ? page.offset + 1 : 0;
  const last = page ? page.offset + page.runs.length : 0;
  const where =
    model.notebookFilter !== null
      ? trans.__('runs of %1', baseName(model.notebookFilter))
      : trans.__("runs of experiment '%1'", page?.experiment ?? '');
  return (
    <div className="jp-mlops-experiments-table-view">
      <div className="jp-mlops-experiments-toolbar">
        <ScopeToggle model={model} trans={trans} />
        <span className="jp-mlops-experiments-muted">{where}</span>
        <span className="jp-mlops-experiments-spacer" />
        <button
          className="jp-mlops-experiments-button jp-mod-accept"
          data-action="compare"
          disabled={model.selected.size < 2}
          onClick={props.onCompare}
        >
          {trans.__('Compare (%1)', model.selected.size)}
        </button>
        <button
          className="jp-mlops-experiments-button"
          data-action="refresh"
          onClick={() => void list.refresh()}
        >
          {trans.__('Refresh')}
        </button>
      </div>
      {list.failure && (
        <div className="jp-mlops-experiments-error">{list.failure.message}</div>
      )}
      {model.needsNotebook && (
        <p className="jp-mlops-experiments-muted">
          {trans.__(
            'No notebook is open: showing nothing for "This notebook".'
          )}
        </p>
      )}
      {page && (
        <div className="jp-mlops-experiments-table-scroll">
          <table className="jp-mlops-experiments-table">
            <thead>
              <tr>
                <th aria-label={trans.__('select')} />
                {header('status', trans.__('status'))}
                {header('run_name', trans.__('run'))}
                {header('start_time', trans.__('started'))}
                {header('duration', trans.__('duration'))}
                {page.param_keys.map(k => header(`params.${k}`, k))}
                {page.metric_keys.map(k => header(`metrics.${k}`, k))}
                <th>{trans.__('models')}</th>
              </tr>
            </thead>
            <tbody>
              {page.runs.map(run => (
                <tr
                  key={run.run_id}
                  data-run-id={run.run_id}
                  data-status={run.status}
                  className={
                    model.isSelected(run.run_id) ? 'jp-mod-selected' : ''
                  }
                >
                  <td>
                    <input
                      type="checkbox"
                      checked={model.isSelected(run.run_id)}
                      aria-label={trans.__('Select %1', runLabel(run))}
                      onChange={e =>
                        model.toggle(run.run_id, e.currentTarget.checked)
                      }
                    />
                  </td>
                  <td>
                    <span
                      className="jp-mlops-dot"
                      data-state={statusState(run.status)}
                    />{' '}
                    {run.status}
                  </td>
                  <td title={run.run_id}>
                    {run.url ? (
                      <ExternalLink url={run.url}>{runLabel(run)}</ExternalLink>
                    ) : (
                      runLabel(run)
                    )}
                    {page.sweeps?.[run.run_id] && (
                      <SweepBadge
                        summary={page.sweeps[run.run_id]}
                        trans={trans}
                      />
                    )}
                  </td>
                  <td>{formatTime(run.start_time)}</td>
                  <td className="jp-mlops-experiments-number">
                    {formatDuration(run.duration)}
                  </td>
                  {page.param_keys.map(k => (
                    <td key={k} data-param={k}>
                      {run.params[k] ?? ''}
                    </td>
                  ))}
                  {page.metric_keys.map(k => (
                    <td
                      key={k}
                      data-metric={k}
                      className="jp-mlops-experiments-number"
                    >
                      {k in run.metrics ? formatMetric(run.metrics[k]) : ''}
                    </td>
                  ))}
                  <td>{run.models.map(m => m.name).join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {page && (
        <div className="jp-mlops-experiments-pager">
          <button
            className="jp-mlops-experiments-button"
            data-action="previous"
            disabled={page.offset === 0}
            onClick={() => list.goTo(page.offset - page.limit)}
          >
            {trans.__('Previous')}
          </button>
          <span data-range={`${first}-${last}`}>
            {page.total === 0
              ? trans.__('no runs')
              : trans.__('%1–%2 of %3', first, last, page.total)}
            {page.truncated && trans.__(' (the newest 1000)')}
          </span>
          <button
            className="jp-mlops-experiments-button"
            data-action="next"
            disabled={last >= page.total}
            onClick={() => list.goTo(page.offset + page.limit)}
          >
            {trans.__('Next')}
          </button>
        </div>
      )}
    </div>
  );
}
