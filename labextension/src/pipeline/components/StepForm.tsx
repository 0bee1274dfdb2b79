import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { STEP_NAME } from '../notebook';
import { IStepMark } from '../types';

export interface IStepFormProps {
  /** What the cell's metadata says now (null: no mark there). */
  initial: IStepMark | null;
  /** The other steps, offered for "after". */
  steps: string[];
  onSave: (mark: IStepMark) => void;
  onCancel: () => void;
  trans: TranslationBundle;
}

/**
 * The "set step" form for the active cell: name, after, GPUs, CPUs, memory, retries,
 * no-cache. What it saves goes to the cell's `mlops.step` metadata (see
 * `pipeline/marks.py`, whose checks CPU and MEMORY repeat).
 */
/** As `CPU` and `MEMORY` in `pipeline/marks.py`. */
const CPU = /^(\d+(\.\d+)?|\d+m)$/;
const MEMORY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T|k)?$/;

export function StepForm(props: IStepFormProps): JSX.Element {
  const { initial, trans } = props;
  const [name, setName] = React.useState(initial?.name ?? '');
  const [after, setAfter] = React.useState((initial?.after ?? []).join(', '));
  const [gpu, setGpu] = React.useState(String(initial?.gpu ?? 0));
  const [cpu, setCpu] = React.useState(initial?.cpu ?? '');
  const [memory, setMemory] = React.useState(initial?.memory ?? '');
  const [retries, setRetries] = React.useState(String(initial?.retries ?? 0));
  const [noCache, setNoCache] = React.useState(initial?.cache === false);

  const afterNames = after
    .split(',')
    .map(part => part.trim())
    .filter(part => part.length > 0);
  let problem: string | null = null;
  if (!STEP_NAME.test(name)) {
    problem = trans.__(
      'A step name starts with a letter or _ and holds letters, digits, _ and -.'
    );
  } else if (afterNames.some(a => !STEP_NAME.test(a))) {
    problem = trans.__('"After" takes step names separated by commas.');
  } else if (afterNames.includes(name)) {
    problem = trans.__('A step cannot run after itself.');
  } else if (!/^\d+$/.test(gpu) || !/^\d+$/.test(retries)) {
    problem = trans.__('GPUs and retries are whole numbers ≥ 0.');
  } else if (cpu.trim() && !CPU.test(cpu.trim())) {
    problem = trans.__('CPUs as a number (2, 0.5) or millicores (500m).');
  } else if (memory.trim() && !MEMORY.test(memory.trim())) {
    problem = trans.__('Memory as a size such as 512Mi, 4Gi or 2G.');
  }

  const save = (event: React.FormEvent): void => {
    event.preventDefault();
    if (problem) {
      return;
    }
    const mark: IStepMark = {
      name,
      after: afterNames,
      gpu: Number(gpu),
      retries: Number(retries),
      cache: !noCache
    };
    if (cpu.trim()) {
      mark.cpu = cpu.trim();
    }
    if (memory.trim()) {
      mark.memory = memory.trim();
    }
    props.onSave(mark);
  };

  const others = props.steps.filter(s => s !== name);
  return (
    <form className="jp-mlops-pipeline-form" onSubmit={save}>
      <label>
        <span>{trans.__('Step name')}</span>
        <input
          className="jp-mod-styled"
          name="name"
          value={name}
          autoFocus
          placeholder={trans.__('train')}
          onChange={e => setName(e.target.value)}
        />
      </label>
      <label>
        <span>{trans.__('After')}</span>
        <input
          className="jp-mod-styled"
          name="after"
          value={after}
          list="jp-mlops-pipeline-step-names"
          placeholder={others.slice(0, 2).join(', ')}
          title={trans.__(
            'Steps this one runs after even where no data flows from them'
          )}
          onChange={e => setAfter(e.target.value)}
        />
        <datalist id="jp-mlops-pipeline-step-names">
          {others.map(s => (
            <option key={s} value={s} />
          ))}
        </datalist>
      </label>
      <div className="jp-mlops-pipeline-form-row">
        <label>
          <span>{trans.__('GPUs')}</span>
          <input
            className="jp-mod-styled"
            name="gpu"
            type="number"
            min={0}
            value={gpu}
            onChange={e => setGpu(e.target.value)}
          />
        </label>
        <label>
          <span>{trans.__('CPUs')}</span>
          <input
            className="jp-mod-styled"
            name="cpu"
            value={cpu}
            placeholder={trans.__('2, 500m')}
            title={trans.__('CPUs the step needs on the engine (exports)')}
            onChange={e => setCpu(e.target.value)}
          />
        </label>
        <label>
          <span>{trans.__('Memory')}</span>
          <input
            className="jp-mod-styled"
            name="memory"
            value={memory}
            placeholder={trans.__('4Gi')}
            title={trans.__('Memory the step needs on the engine (exports)')}
            onChange={e => setMemory(e.target.value)}
          />
        </label>
        <label>
          <span>{trans.__('Retries')}</span>
          <input
            className="jp-mod-styled"
            name="retries"
            type="number"
            min={0}
            value={retries}
            onChange={e => setRetries(e.target.value)}
          />
        </label>
      </div>
      <label className="jp-mlops-pipeline-check">
        <input
          type="checkbox"
          name="no-cache"
          checked={noCache}
          onChange={e => setNoCache(e.target.checked)}
        />
        <span>{trans.__('No cache (always run this step)')}</span>
      </label>
      {problem && name.length > 0 && (
        <div className="jp-mlops-pipeline-problem">{problem}</div>
      )}
      <div className="jp-mlops-pipeline-actions">
        <Button type="submit" small disabled={problem !== null}>
          {trans.__('Save step')}
        </Button>
        <Button type="button" small minimal onClick={props.onCancel}>
          {trans.__('Cancel')}
        </Button>
      </div>
    </form>
  );
}
