import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  baseName,
  formatDuration,
  formatMetric,
  formatStart,
  formatTime,
  runLabel,
  statusState
} from '../format';
import { ExperimentsModel, RunsList } from '../model';
import { IRun } from '../tokens';
import { IRunActions, RunDetails } from './RunDetails';
import { ScopeToggle } from './Scope';
import { SweepBadge, SweepDetails } from './SweepDetails';

/** The metrics shown on a run's line in the sidebar. */
const LINE_METRICS = 2;

export interface IRunsSidebarProps extends IRunActions {
  list: RunsList;
  model: ExperimentsModel;
  expanded: ReadonlySet<string>;
  onExpand: (runId: string) => void;
  onCompare: () => void;
  onOpenTable: () => void;
  /** draws a sweep's charts */
  rendermime: IRenderMimeRegistry | null;
  trans: TranslationBundle;
}

/** The compact list in the sidebar: the newest runs, select, open one, compare. */
export function RunsSidebar(props: IRunsSidebarProps): JSX.Element {
  const { list, model, trans } = props;
  const page = list.page;
  const selected = model.selected.size;
  return (
    <div className="jp-mlops-experiments" aria-busy={list.isLoading}>
      <ScopeToggle model={model} trans={trans} />
      <Caption {...props} />
      {list.failure && (
        <div className="jp-mlops-experiments-error" data-kind="request">
          {list.failure.message}
        </div>
      )}
      {model.needsNotebook && (
        <p className="jp-mlops-experiments-muted">
          {trans.__(
            'Open a notebook to see its runs, or look at the whole experiment.'
          )}
        </p>
      )}
      {page && page.runs.length === 0 && (
        <p className="jp-mlops-experiments-muted" data-kind="empty">
          {model.notebookFilter !== null
            ? trans.__(
                'No runs of this notebook yet: run a cell with %%mlops track.'
              )
            : trans.__('No runs in this experiment yet.')}
        </p>
      )}
      {page && page.runs.length > 0 && (
        <ul className="jp-mlops-experiments-runs">
          {page.runs.map(run => (
            <RunLine key={run.run_id} {...props} run={run} />
          ))}
        </ul>
      )}
      <div className="jp-mlops-experiments-actions">
        <button
          className="jp-mlops-experiments-button jp-mod-accept"
          data-action="compare"
          disabled={selected < 2}
          title={trans.__('Select two or more runs to compare them')}
          onClick={props.onCompare}
        >
          {selected > 0
            ? trans.__('Compare (%1)', selected)
            : trans.__('Compare')}
        </button>
        <button
          className="jp-mlops-experiments-button"
          data-action="open-table"
          disabled={model.needsNotebook}
          onClick={props.onOpenTable}
        >
          {trans.__('Open table')}
        </button>
      </div>
    </div>
  );
}

function Caption(props: IRunsSidebarProps): JSX.Element | null {
  const { list, model, trans } = props;
  const page = list.page;
  if (!page) {
    return list.isLoading ? (
      <p className="jp-mlops-experiments-caption">
        {trans.__('Loading runs…')}
      </p>
    ) : null;
  }
  const where =
    model.notebookFilter !== null
      ? baseName(model.notebookFilter)
      : trans.__("experiment '%1'", page.experiment ?? '');
  const shown =
    page.total > page.runs.length
      ? trans.__('%1 newest of %2 runs', page.runs.length, page.total)
      : trans._n('%1 run', '%1 runs', page.total);
  return (
    <p className="jp-mlops-experiments-caption" title={page.tracking_uri}>
      <span>{where}</span> · <span data-total={page.total}>{shown}</span>
      {page.active && (
        <span className="jp-mlops-experiments-live">
          {' '}
          · {trans.__('a run is active: refreshing')}
        </span>
      )}
    </p>
  );
}

function RunLine(props: IRunsSidebarProps & { run: IRun }): JSX.Element {
  const { run, model, trans } = props;
  const open = props.expanded.has(run.run_id);
  const metrics = Object.entries(run.metrics).slice(0, LINE_METRICS);
  // a sweep is one line: its trials open under it
  const sweep = props.list.page?.sweeps?.[run.run_id];
  return (
    <li
      className="jp-mlops-experiments-run"
      data-run-id={run.run_id}
      data-status={run.status}
    >
      <div className="jp-mlops-experiments-run-line">
        <input
          type="checkbox"
          checked={model.isSelected(run.run_id)}
          aria-label={trans.__('Select %1 to compare', runLabel(run))}
          onChange={e => model.toggle(run.run_id, e.currentTarget.checked)}
        />
        <span
          className="jp-mlops-dot"
          data-state={statusState(run.status)}
          role="img"
          aria-label={run.status}
          title={run.status}
        />
        <button
          className="jp-mlops-experiments-run-name"
          aria-expanded={open}
          title={trans.__(
            '%1 · started %2',
            run.run_id,
            formatTime(run.start_time)
          )}
          onClick={() => props.onExpand(run.run_id)}
        >
          {runLabel(run)}
        </button>
        <span className="jp-mlops-experiments-muted">
          {formatDuration(run.duration)} · {formatStart(run.start_time)}
        </span>
      </div>
      {sweep && <SweepBadge summary={sweep} trans={trans} />}
      {metrics.length > 0 && (
        <div className="jp-mlops-experiments-run-metrics">
          {metrics.map(([k, v]) => (
            <span key={k} data-metric={k}>
              {k} <b>{formatMetric(v)}</b>
            </span>
          ))}
          {run.models.length > 0 && (
            <span className="jp-mlops-experiments-tag">
              {trans._n('%1 model', '%1 models', run.models.length)}
            </span>
          )}
        </div>
      )}
      {open &&
        (sweep ? (
          <SweepDetails {...props} run={run} summary={sweep} />
        ) : (
          <RunDetails {...props} run={run} />
        ))}
    </li>
  );
}
