import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { PipelineModel } from '../model';
import { IExportResult, IPipelineDag, IStepMark, StepState } from '../types';
import { DagView } from './DagView';
import { RunForm } from './RunForm';
import { RecentRuns, RunView } from './RunView';
import { StepForm } from './StepForm';

export interface IPipelineViewProps {
  model: PipelineModel;
  /** Which form is open under the DAG. */
  form: 'none' | 'step' | 'run';
  onForm: (form: 'none' | 'step' | 'run') => void;
  exportResult: IExportResult | null;
  exportError: string | null;
  onExport: () => void;
  onSelectStep: (step: string) => void;
  onSelectCell: (id: string | null, index: number | null) => void;
  onOpenLog: (step: string) => void;
  onOpenFile: (path: string) => void;
  trans: TranslationBundle;
}

/** The Pipeline panel: the open notebook's DAG, its active cell's step, runs and export. */
export function PipelineView(props: IPipelineViewProps): JSX.Element {
  const { model, trans } = props;
  const panel = model.panel;
  if (!panel) {
    return (
      <div className="jp-mlops-pipeline-note jp-mlops-pipeline-empty">
        {trans.__('Open a notebook to see its pipeline.')}
      </div>
    );
  }
  const dag = model.dag;
  const run = model.run;
  const states: Record<string, StepState> = {};
  for (const step of run?.steps ?? []) {
    states[step.name] = step.state;
  }
  const stepNames = dag?.steps.map(s => s.name) ?? [];
  const running = run?.state === 'running';

  return (
    <div
      className="jp-mlops-pipeline"
      data-notebook={model.path}
      aria-busy={model.isLoading}
    >
      <div className="jp-mlops-pipeline-toolbar">
        <span className="jp-mlops-pipeline-title" title={model.path}>
          {panel.title.label}
        </span>
        <Button
          small
          className="jp-mlops-pipeline-run-button"
          disabled={!dag || stepNames.length === 0 || model.isBusy || running}
          title={trans.__('Run the saved notebook as a pipeline')}
          onClick={() => props.onForm(props.form === 'run' ? 'none' : 'run')}
        >
          {trans.__('Run…')}
        </Button>
        <Button
          small
          minimal
          className="jp-mlops-pipeline-export-button"
          disabled={!dag || stepNames.length === 0}
          onClick={props.onExport}
        >
          {trans.__('Export…')}
        </Button>
      </div>

      {model.dagError && (
        <div className="jp-mlops-pipeline-problem" data-kind="dag-error">
          {model.dagError}
        </div>
      )}
      {!dag && !model.dagError && (
        <div className="jp-mlops-pipeline-note">
          {trans.__('Reading the notebook…')}
        </div>
      )}
      {dag && stepNames.length === 0 && (
        <div className="jp-mlops-pipeline-note">
          {trans.__(
            'No steps yet: start a cell with %1, or set a step on the active cell below.',
            '%%mlops step NAME'
          )}
        </div>
      )}
      {dag && stepNames.length > 0 && (
        <div
          className={`jp-mlops-pipeline-graph${model.dagError ? ' jp-mod-stale' : ''}`}
          title={
            model.dagError
              ? trans.__('The last pipeline that could be read')
              : undefined
          }
        >
          <DagView
            dag={dag}
            states={states}
            selected={model.activeStep()}
            onSelect={props.onSelectStep}
            trans={trans}
          />
        </div>
      )}
      {dag && <StepDetail dag={dag} step={model.activeStep()} trans={trans} />}
      {dag && dag.warnings.length > 0 && (
        <ul className="jp-mlops-pipeline-warnings">
          {dag.warnings.map((warning, i) => (
            <li key={i} data-cell={warning.cell ?? ''}>
              {warning.cell !== null ? (
                <button
                  className="jp-mlops-pipeline-link"
                  onClick={() =>
                    props.onSelectCell(warning.cell_id, warning.cell)
                  }
                >
                  {warning.line !== null
                    ? trans.__(
                        'cell %1, line %2',
                        warning.cell + 1,
                        warning.line
                      )
                    : trans.__('cell %1', warning.cell + 1)}
                </button>
              ) : null}{' '}
              {warning.message}
            </li>
          ))}
        </ul>
      )}

      <ActiveCell {...props} stepNames={stepNames} />

      {props.form === 'run' && dag && (
        <RunForm
          parameters={dag.parameters}
          steps={stepNames}
          trans={trans}
          onCancel={() => props.onForm('none')}
          onRun={request => {
            props.onForm('none');
            void model.startRun(request);
          }}
        />
      )}
      {model.actionError && (
        <div className="jp-mlops-pipeline-problem" data-kind="action-error">
          {model.actionError}
        </div>
      )}
      {run && (
        <RunView
          run={run}
          busy={model.isBusy}
          onStop={() => void model.stopRun()}
          onSelectCell={props.onSelectCell}
          onOpenLog={props.onOpenLog}
          trans={trans}
        />
      )}
      <RecentRuns
        runs={model.runs}
        shown={run?.run_id ?? null}
        onShow={runId => void model.showRun(runId)}
        trans={trans}
      />
      {props.exportError && (
        <div className="jp-mlops-pipeline-problem" data-kind="export-error">
          {props.exportError}
        </div>
      )}
      {props.exportResult && (
        <div className="jp-mlops-pipeline-exported">
          <div>{trans.__('Exported to %1:', props.exportResult.target)}</div>
          <ul>
            {props.exportResult.files.map(file => (
              <li key={file}>
                <button
                  className="jp-mlops-pipeline-link"
                  onClick={() => props.onOpenFile(file)}
                >
                  {file}
                </button>
              </li>
            ))}
          </ul>
          {props.exportResult.notes.map(note => (
            <div key={note} className="jp-mlops-pipeline-note">
              {note}
            </div>
          ))}
        </div>
      )}
    </div>
  );
}

/** What the step of the active cell reads, hands on, and needs. */
function StepDetail(props: {
  dag: IPipelineDag;
  step: string | null;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { trans } = props;
  const step = props.dag.steps.find(s => s.name === props.step);
  if (!step) {
    return null;
  }
  const none = trans.__('nothing');
  const needs: string[] = [];
  if (step.resources.gpu) {
    needs.push(trans.__('%1 GPU', step.resources.gpu));
  }
  if (step.resources.cpu) {
    needs.push(trans.__('%1 CPU', step.resources.cpu));
  }
  if (step.resources.memory) {
    needs.push(step.resources.memory);
  }
  return (
    <dl className="jp-mlops-pipeline-detail" data-step={step.name}>
      <dt>{trans.__('reads')}</dt>
      <dd>
        {step.inputs.map(i => `${i.name} ← ${i.from}`).join(', ') || none}
      </dd>
      <dt>{trans.__('hands on')}</dt>
      <dd>{step.outputs.join(', ') || none}</dd>
      {step.parameters.length > 0 && (
        <>
          <dt>{trans.__('parameters')}</dt>
          <dd>{step.parameters.join(', ')}</dd>
        </>
      )}
      {(needs.length > 0 || step.retries > 0 || !step.cache) && (
        <>
          <dt>{trans.__('runs with')}</dt>
          <dd>
            {[
              ...needs,
              ...(step.retries > 0
                ? [
                    trans._n(
                      '%1 retry',
                      '%1 retries',
                      step.retries,
                      step.retries
                    )
                  ]
                : []),
              ...(step.cache ? [] : [trans.__('no cache')])
            ].join(', ')}
          </dd>
        </>
      )}
    </dl>
  );
}

/** The active cell: the step it starts or belongs to, and the "set step" form. */
function ActiveCell(
  props: IPipelineViewProps & { stepNames: string[] }
): JSX.Element | null {
  const { model, trans } = props;
  const active = model.activeCell;
  const mark = model.activeMark();
  if (!active || !mark) {
    return null;
  }
  if (active.cell.model.type !== 'code') {
    return (
      <div className="jp-mlops-pipeline-cell jp-mlops-pipeline-note">
        {trans.__('Cell %1 is not code: it is in no step.', active.index + 1)}
      </div>
    );
  }
  const role = sharedRole(active.cell.model.getMetadata('tags'));
  if (role) {
    return (
      <div className="jp-mlops-pipeline-cell jp-mlops-pipeline-note">
        {role === 'skip'
          ? trans.__(
              'Cell %1 is tagged skip: no step runs it.',
              active.index + 1
            )
          : trans.__(
              'Cell %1 is tagged %2: every step runs it.',
              active.index + 1,
              role
            )}
      </div>
    );
  }
  const within = model.activeStep();
  const marked = mark.metadata?.name ?? mark.other?.name ?? null;
  let text: string;
  if (mark.other && mark.other.how === 'magic') {
    text = trans.__(
      'Cell %1 starts step %2 (its %3 line: edit it there).',
      active.index + 1,
      mark.other.name,
      '%%mlops step'
    );
  } else if (mark.other) {
    text = trans.__(
      'Cell %1 starts step %2 (its step:%2 tag).',
      active.index + 1,
      mark.other.name
    );
  } else if (marked) {
    text = trans.__('Cell %1 starts step %2.', active.index + 1, marked);
  } else if (within) {
    text = trans.__('Cell %1 is part of step %2.', active.index + 1, within);
  } else {
    text = trans.__('Cell %1 is in no step.', active.index + 1);
  }
  const editable = mark.other === null;
  return (
    <div className="jp-mlops-pipeline-cell" data-cell={active.index}>
      <div className="jp-mlops-pipeline-cell-line">
        <span className="jp-mlops-pipeline-cell-text">{text}</span>
        {editable && props.form !== 'step' && (
          <Button
            small
            minimal
            className="jp-mlops-pipeline-set-step"
            onClick={() => props.onForm('step')}
          >
            {mark.metadata ? trans.__('Edit step') : trans.__('Set step')}
          </Button>
        )}
        {editable && mark.metadata && props.form !== 'step' && (
          <Button
            small
            minimal
            className="jp-mlops-pipeline-clear-step"
            onClick={() => model.setStep(null)}
          >
            {trans.__('Clear')}
          </Button>
        )}
      </div>
      {editable && props.form === 'step' && (
        <StepForm
          // a fresh form for each cell
          key={active.cell.model.id}
          initial={mark.metadata}
          steps={props.stepNames}
          trans={trans}
          onCancel={() => props.onForm('none')}
          onSave={(step: IStepMark) => {
            props.onForm('none');
            model.setStep(step);
          }}
        />
      )}
    </div>
  );
}

/** The tag that makes a cell shared by every step, the parameters cell, or skipped. */
function sharedRole(tags: unknown): string | null {
  if (!Array.isArray(tags)) {
    return null;
  }
  // in the order the server reads them (pipeline/notebook.py)
  const roles = [
    'skip',
    'parameters',
    'pipeline-parameters',
    'imports',
    'functions'
  ];
  return roles.find(role => tags.includes(role)) ?? null;
}
