import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { Field, FormActions, TextInput } from '../../components/Field';
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

/** As `CPU` and `MEMORY` in `pipeline/marks.py`. */
const CPU = /^(\d+(\.\d+)?|\d+m)$/;
const MEMORY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T|k)?$/;

/** The fields a problem can be about. */
type StepField = 'name' | 'after' | 'gpu' | 'cpu' | 'memory' | 'retries';

/**
 * The "set step" form for the active cell: name, after, GPUs, CPUs, memory, retries,
 * no-cache. What it saves goes to the cell's `mlops.step` metadata (see
 * `pipeline/marks.py`, whose checks CPU and MEMORY repeat).
 */
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
  // what is wrong, said under the field it is about
  const problems: Partial<Record<StepField, string>> = {};
  if (!STEP_NAME.test(name)) {
    problems.name = trans.__(
      'A step name starts with a letter or _ and holds letters, digits, _ and -.'
    );
  }
  if (afterNames.some(a => !STEP_NAME.test(a))) {
    problems.after = trans.__('"After" takes step names separated by commas.');
  } else if (afterNames.includes(name)) {
    problems.after = trans.__('A step cannot run after itself.');
  }
  for (const [field, value] of [
    ['gpu', gpu],
    ['retries', retries]
  ] as const) {
    if (!/^\d+$/.test(value)) {
      problems[field] = trans.__('A whole number ≥ 0.');
    }
  }
  if (cpu.trim() && !CPU.test(cpu.trim())) {
    problems.cpu = trans.__('CPUs as a number (2, 0.5) or millicores (500m).');
  }
  if (memory.trim() && !MEMORY.test(memory.trim())) {
    problems.memory = trans.__('Memory as a size such as 512Mi, 4Gi or 2G.');
  }
  const invalid = Object.keys(problems).length > 0;
  // nothing typed yet: no reproach before the first keystroke
  const shown = name.length > 0 ? problems : {};

  const save = (event: React.FormEvent): void => {
    event.preventDefault();
    if (invalid) {
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
      <Field label={trans.__('Step name')} error={shown.name}>
        <TextInput
          name="name"
          value={name}
          autoFocus
          placeholder={trans.__('train')}
          onChange={setName}
        />
      </Field>
      <Field
        label={trans.__('After')}
        title={trans.__(
          'Steps this one runs after even where no data flows from them'
        )}
        error={shown.after}
      >
        <TextInput
          name="after"
          value={after}
          list="jp-mlops-pipeline-step-names"
          placeholder={others.slice(0, 2).join(', ')}
          onChange={setAfter}
        />
        <datalist id="jp-mlops-pipeline-step-names">
          {others.map(s => (
            <option key={s} value={s} />
          ))}
        </datalist>
      </Field>
      <div className="jp-mlops-pipeline-form-row">
        <Field label={trans.__('GPUs')} error={shown.gpu}>
          <TextInput
            name="gpu"
            type="number"
            min={0}
            value={gpu}
            onChange={setGpu}
          />
        </Field>
        <Field
          label={trans.__('CPUs')}
          title={trans.__('CPUs the step needs on the engine (exports)')}
          error={shown.cpu}
        >
          <TextInput
            name="cpu"
            value={cpu}
            placeholder={trans.__('2, 500m')}
            onChange={setCpu}
          />
        </Field>
        <Field
          label={trans.__('Memory')}
          title={trans.__('Memory the step needs on the engine (exports)')}
          error={shown.memory}
        >
          <TextInput
            name="memory"
            value={memory}
            placeholder={trans.__('4Gi')}
            onChange={setMemory}
          />
        </Field>
        <Field label={trans.__('Retries')} error={shown.retries}>
          <TextInput
            name="retries"
            type="number"
            min={0}
            value={retries}
            onChange={setRetries}
          />
        </Field>
      </div>
      <Field label={trans.__('No cache (always run this step)')} kind="check">
        <input
          type="checkbox"
          name="no-cache"
          checked={noCache}
          onChange={e => setNoCache(e.target.checked)}
        />
      </Field>
      <FormActions
        submit={trans.__('Save step')}
        cancel={trans.__('Cancel')}
        disabled={invalid}
        onCancel={props.onCancel}
      />
    </form>
  );
}
