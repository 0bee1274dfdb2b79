import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { Field, FormActions, Select, TextInput } from '../../components/Field';
import { IPipelineParameter, IRunRequest } from '../types';

export interface IRunFormProps {
  parameters: IPipelineParameter[];
  steps: string[];
  onRun: (request: IRunRequest) => void;
  onCancel: () => void;
  trans: TranslationBundle;
}

type Scope = 'all' | 'from' | 'only';

/**
 * What to run: the pipeline's parameters (prefilled with their defaults, typed as the
 * `parameters` cell's literals) and the whole pipeline, from a step, or one step only.
 */
export function RunForm(props: IRunFormProps): JSX.Element {
  const { parameters, steps, trans } = props;
  const [values, setValues] = React.useState<Record<string, string>>(() =>
    Object.fromEntries(parameters.map(p => [p.name, asText(p)]))
  );
  const [scope, setScope] = React.useState<Scope>('all');
  const [step, setStep] = React.useState(steps[0] ?? '');

  const problems: Record<string, string> = {};
  const typed: Record<string, unknown> = {};
  for (const parameter of parameters) {
    const text = values[parameter.name] ?? '';
    if (text === asText(parameter)) {
      continue; // the default: the server takes it from the notebook
    }
    const parsed = parse(parameter, text, trans);
    if (parsed.ok) {
      typed[parameter.name] = parsed.value;
    } else {
      problems[parameter.name] = parsed.problem;
    }
  }

  const invalid = Object.keys(problems).length > 0;

  const run = (event: React.FormEvent): void => {
    event.preventDefault();
    if (invalid) {
      return;
    }
    const request: IRunRequest = { parameters: typed };
    if (scope === 'from' && step) {
      request.from_step = step;
    } else if (scope === 'only' && step) {
      request.only = step;
    }
    props.onRun(request);
  };

  return (
    <form className="jp-mlops-pipeline-form" onSubmit={run}>
      {parameters.length === 0 && (
        <div className="jp-mlops-pipeline-note">
          {trans.__(
            'No parameters: tag a cell of literal assignments "parameters" to give some.'
          )}
        </div>
      )}
      {parameters.map(parameter => (
        <Field
          key={parameter.name}
          label={
            <>
              {parameter.name}{' '}
              <span className="jp-mlops-pipeline-type">{parameter.type}</span>
            </>
          }
          kind={parameter.type === 'bool' ? 'check' : 'text'}
          error={problems[parameter.name]}
          dataset={{ parameter: parameter.name }}
        >
          {parameter.type === 'bool' ? (
            <input
              type="checkbox"
              name={parameter.name}
              checked={values[parameter.name] === 'true'}
              onChange={e =>
                setValues({
                  ...values,
                  [parameter.name]: String(e.target.checked)
                })
              }
            />
          ) : (
            <TextInput
              name={parameter.name}
              value={values[parameter.name] ?? ''}
              onChange={value =>
                setValues({ ...values, [parameter.name]: value })
              }
            />
          )}
        </Field>
      ))}
      <div className="jp-mlops-pipeline-form-row">
        <Field label={trans.__('Run')}>
          <Select
            name="scope"
            value={scope}
            options={[
              { value: 'all', label: trans.__('every step') },
              { value: 'from', label: trans.__('from step') },
              { value: 'only', label: trans.__('only step') }
            ]}
            onChange={setScope}
          />
        </Field>
        {scope !== 'all' && (
          <Field label={trans.__('Step')}>
            <Select
              name="step"
              value={step}
              options={steps.map(s => ({ value: s, label: s }))}
              onChange={setStep}
            />
          </Field>
        )}
      </div>
      <FormActions
        submit={trans.__('Start run')}
        cancel={trans.__('Cancel')}
        disabled={invalid}
        onCancel={props.onCancel}
      />
    </form>
  );
}

function asText(parameter: IPipelineParameter): string {
  const value = parameter.default;
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value) ?? '';
}

type Parsed = { ok: true; value: unknown } | { ok: false; problem: string };

/** A value typed in the form, as the parameter's type (the server checks it again). */
function parse(
  parameter: IPipelineParameter,
  text: string,
  trans: TranslationBundle
): Parsed {
  const trimmed = text.trim();
  switch (parameter.type) {
    case 'str':
      return { ok: true, value: text };
    case 'bool':
      return { ok: true, value: trimmed === 'true' };
    case 'int':
      return /^[-+]?\d+$/.test(trimmed)
        ? { ok: true, value: Number(trimmed) }
        : { ok: false, problem: trans.__('a whole number') };
    case 'float': {
      const number = Number(trimmed);
      return trimmed !== '' && Number.isFinite(number)
        ? { ok: true, value: number }
        : { ok: false, problem: trans.__('a number') };
    }
    default:
      try {
        const value = JSON.parse(trimmed);
        if (parameter.type === 'list' && !Array.isArray(value)) {
          return { ok: false, problem: trans.__('a JSON list') };
        }
        if (
          parameter.type === 'dict' &&
          (typeof value !== 'object' || value === null || Array.isArray(value))
        ) {
          return { ok: false, problem: trans.__('a JSON object') };
        }
        return { ok: true, value };
      } catch {
        return { ok: false, problem: trans.__('JSON') };
      }
  }
}
