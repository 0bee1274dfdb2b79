import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IPipelineRun, IRunStep, IRunSummary, RunState } from '../types';
import { stateLabel } from './DagView';

export interface IRunViewProps {
  run: IPipelineRun;
  busy: boolean;
  onStop: () => void;
  /** Select a notebook cell (by id, else by 0-based position). */
  onSelectCell: (id: string | null, index: number | null) => void;
  onOpenLog: (step: string) => void;
  trans: TranslationBundle;
}

/** The run shown: its state, each step's state, message, failure and log tail. */
export function RunView(props: IRunViewProps): JSX.Element {
  const { run, trans } = props;
  return (
    <div
      className="jp-mlops-pipeline-run"
      data-run-id={run.run_id}
      data-state={run.state}
    >
      <div className="jp-mlops-pipeline-run-header">
        <span className="jp-mlops-pipeline-badge" data-state={run.state}>
          {runStateLabel(run.state, trans)}
        </span>
        <span className="jp-mlops-pipeline-run-id" title={run.run_id}>
          {trans.__('run %1', formatTime(run.started))}
        </span>
        {run.state === 'running' && (
          <Button
            small
            minimal
            className="jp-mlops-pipeline-stop"
            disabled={props.busy}
            onClick={props.onStop}
          >
            {trans.__('Stop')}
          </Button>
        )}
      </div>
      {Object.keys(run.parameters).length > 0 && (
        <div className="jp-mlops-pipeline-note">
          {Object.entries(run.parameters)
            .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            .join('  ')}
        </div>
      )}
      {run.error && !run.steps.some(s => s.state === 'failed') && (
        <div className="jp-mlops-pipeline-problem">{run.error}</div>
      )}
      {run.runner_log_tail && (
        <pre className="jp-mlops-pipeline-log">{run.runner_log_tail}</pre>
      )}
      <ul className="jp-mlops-pipeline-steps">
        {run.steps.map(step => (
          <StepRow key={step.name} step={step} {...props} />
        ))}
      </ul>
    </div>
  );
}

function StepRow(props: IRunViewProps & { step: IRunStep }): JSX.Element {
  const { step, trans } = props;
  const error = step.error;
  return (
    <li
      className="jp-mlops-pipeline-step"
      data-step={step.name}
      data-state={step.state}
    >
      <div className="jp-mlops-pipeline-step-line">
        <span className="jp-mlops-pipeline-dot" data-state={step.state} />
        <span className="jp-mlops-pipeline-step-name">{step.name}</span>
        <span className="jp-mlops-pipeline-step-state">
          {stateLabel(step.state, trans)}
        </span>
        {step.seconds !== null && step.state !== 'cached' && (
          <span className="jp-mlops-pipeline-step-time">
            {formatSeconds(step.seconds)}
          </span>
        )}
      </div>
      {error && (
        <div className="jp-mlops-pipeline-problem">
          {error.cell !== null && (
            <button
              className="jp-mlops-pipeline-link jp-mlops-pipeline-failure"
              onClick={() => props.onSelectCell(error.cell_id, error.cell)}
              title={trans.__('Select the cell where the step failed')}
            >
              {error.line !== null
                ? trans.__('cell %1, line %2', error.cell + 1, error.line)
                : trans.__('cell %1', error.cell + 1)}
            </button>
          )}{' '}
          {error.message}
        </div>
      )}
      {!error && step.message && step.state !== 'cached' && (
        <div className="jp-mlops-pipeline-note">{step.message}</div>
      )}
      {(step.log_tail || step.log) && (
        <details className="jp-mlops-pipeline-log-tail">
          <summary>
            {trans.__('Log')}
            {step.log && (
              <button
                className="jp-mlops-pipeline-link"
                onClick={event => {
                  event.preventDefault();
                  props.onOpenLog(step.name);
                }}
              >
                {trans.__('open whole log')}
              </button>
            )}
          </summary>
          <pre className="jp-mlops-pipeline-log">
            {step.log_tail || trans.__('(nothing printed)')}
          </pre>
        </details>
      )}
    </li>
  );
}

export interface IRecentRunsProps {
  runs: IRunSummary[];
  shown: string | null;
  onShow: (runId: string) => void;
  trans: TranslationBundle;
}

/** The notebook's recent runs; clicking one shows it. */
export function RecentRuns(props: IRecentRunsProps): JSX.Element | null {
  const { runs, trans } = props;
  if (runs.length === 0) {
    return null;
  }
  return (
    <details className="jp-mlops-pipeline-recent">
      <summary>
        {trans._n('%1 recent run', '%1 recent runs', runs.length, runs.length)}
      </summary>
      <ul>
        {runs.map(run => (
          <li
            key={run.run_id}
            data-run-id={run.run_id}
            data-shown={run.run_id === props.shown}
          >
            <button
              className="jp-mlops-pipeline-link"
              onClick={() => props.onShow(run.run_id)}
              title={run.error ?? run.run_id}
            >
              <span className="jp-mlops-pipeline-dot" data-state={run.state} />
              {formatTime(run.started)}
            </button>
            <span className="jp-mlops-pipeline-note">
              {runStateLabel(run.state, trans)}
              {' · '}
              {Object.entries(run.steps)
                .map(([state, n]) => `${n} ${state}`)
                .join(', ')}
            </span>
          </li>
        ))}
      </ul>
    </details>
  );
}

function runStateLabel(state: RunState, trans: TranslationBundle): string {
  switch (state) {
    case 'running':
      return trans.__('running');
    case 'done':
      return trans.__('done');
    case 'failed':
      return trans.__('failed');
    case 'cancelled':
      return trans.__('stopped');
  }
}

/** A run's start, as the time of day (with the date when not today). */
function formatTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString()
    : `${date.toLocaleDateString()} ${date.toLocaleTimeString()}`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 1) {
    return `${Math.max(1, Math.round(seconds * 1000))} ms`;
  }
  return seconds < 10 ? `${seconds.toFixed(1)} s` : `${seconds.toFixed(0)} s`;
}
