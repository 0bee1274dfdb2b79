import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

export interface IFieldProps {
  /** What the field asks for. */
  label: React.ReactNode;
  /** Hover text: what the value is for. */
  title?: string;
  /** What is wrong with the value, said under it; nothing when it is fine. */
  error?: string | null;
  /** `check`: a checkbox with its label beside it. */
  kind?: 'text' | 'check';
  /** Marks the field for tests and styles (e.g. the parameter it edits). */
  dataset?: Record<string, string>;
  /** The control: a `TextInput`, a `Select`, a checkbox. */
  children: React.ReactNode;
}

/**
 * One field of a form: its label, its control and what is wrong with the value. The
 * pipeline's step, run and export forms are made of these.
 */
export function Field(props: IFieldProps): JSX.Element {
  const { label, error, kind = 'text' } = props;
  const data = Object.fromEntries(
    Object.entries(props.dataset ?? {}).map(([key, value]) => [
      `data-${key}`,
      value
    ])
  );
  return (
    <label
      className="jp-mlops-field"
      data-kind={kind}
      data-invalid={error ? 'true' : undefined}
      title={props.title}
      {...data}
    >
      {kind === 'check' && props.children}
      <span className="jp-mlops-field-label">{label}</span>
      {kind !== 'check' && props.children}
      {error && (
        <span className="jp-mlops-field-error" role="alert">
          {error}
        </span>
      )}
    </label>
  );
}

type InputProps = Omit<
  React.InputHTMLAttributes<HTMLInputElement>,
  'value' | 'onChange' | 'className'
>;

/** A themed text input that hands on its new value. */
export function TextInput(
  props: InputProps & {
    name: string;
    value: string;
    onChange: (value: string) => void;
  }
): JSX.Element {
  const { onChange, ...rest } = props;
  return (
    <input
      className="jp-mod-styled"
      {...rest}
      onChange={event => onChange(event.target.value)}
    />
  );
}

/** A themed select of string values that hands on the chosen one. */
export function Select<T extends string>(props: {
  name: string;
  value: T;
  options: readonly { value: T; label: string }[];
  onChange: (value: T) => void;
}): JSX.Element {
  return (
    <select
      className="jp-mod-styled"
      name={props.name}
      value={props.value}
      onChange={event => props.onChange(event.target.value as T)}
    >
      {props.options.map(option => (
        <option key={option.value} value={option.value}>
          {option.label}
        </option>
      ))}
    </select>
  );
}

/** A form's buttons: submit (disabled while a field is wrong) and cancel. */
export function FormActions(props: {
  submit: string;
  cancel: string;
  disabled: boolean;
  onCancel: () => void;
}): JSX.Element {
  return (
    <div className="jp-mlops-form-actions">
      <Button type="submit" small disabled={props.disabled}>
        {props.submit}
      </Button>
      <Button type="button" small minimal onClick={props.onCancel}>
        {props.cancel}
      </Button>
    </div>
  );
}
