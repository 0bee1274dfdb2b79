import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  CapabilityId,
  CapabilityState,
  ICapabilityStatus,
  ICheck,
  SectionState
} from '../tokens';
import { formatMs } from './format';

const MARKS: Record<CapabilityState, string> = {
  ok: '✓',
  warning: '!',
  error: '✗'
};

export interface ICapabilitySectionProps {
  id: CapabilityId;
  title: string;
  state: SectionState;
  /** The last answer for this capability; null before one arrived. */
  capability: ICapabilityStatus | null;
  /** What to say when there is no answer for this capability. */
  placeholder: string;
  /** The answer is older than a failed request that followed it. */
  stale: boolean;
  trans: TranslationBundle;
}

/** A capability's state, summary and measured checks. */
export function CapabilitySection(props: ICapabilitySectionProps): JSX.Element {
  const { id, title, state, capability, stale, trans } = props;
  const className = `jp-mlops-section${stale ? ' jp-mlops-mod-stale' : ''}`;
  return (
    <div
      className={className}
      data-mlops-section={id}
      data-state={state}
      aria-busy={state === 'loading'}
    >
      <h3 className="jp-mlops-section-header">
        <span
          className="jp-mlops-dot"
          data-state={state}
          role="img"
          aria-label={stateLabel(state, trans)}
        />
        <span className="jp-mlops-section-title">{title}</span>
      </h3>
      <p className="jp-mlops-section-summary">
        {capability ? capability.summary : props.placeholder}
      </p>
      {capability && !capability.built && (
        <div
          className="jp-mlops-section-note"
          title={trans.__(
            'This shows the health of the backends; the capability itself lands in issue #%1.',
            capability.issue
          )}
        >
          {trans.__('Coming in issue #%1', capability.issue)}
        </div>
      )}
      {capability && capability.checks.length > 0 && (
        <CheckList checks={capability.checks} trans={trans} />
      )}
    </div>
  );
}

/**
 * The measured checks: folded into one line while they all pass (the panel below
 * needs the room), unfolded as soon as one warns or fails.
 */
function CheckList(props: {
  checks: ICheck[];
  trans: TranslationBundle;
}): JSX.Element {
  const { checks, trans } = props;
  const failing = checks.filter(check => checkLevel(check) !== 'ok').length;
  const label =
    failing === 0
      ? trans._n('%1 check passed', '%1 checks passed', checks.length)
      : trans.__('%1 of %2 checks need a look', failing, checks.length);
  return (
    <details
      className="jp-mlops-checks-fold"
      data-failing={failing}
      open={failing > 0 || undefined}
    >
      <summary className="jp-mlops-checks-summary">{label}</summary>
      <ul className="jp-mlops-checks">
        {checks.map(check => (
          <CheckRow key={check.name} check={check} trans={trans} />
        ))}
      </ul>
    </details>
  );
}

function checkLevel(check: ICheck): CapabilityState {
  return check.level ?? (check.ok ? 'ok' : 'error');
}

function CheckRow(props: {
  check: ICheck;
  trans: TranslationBundle;
}): JSX.Element {
  const { check, trans } = props;
  const level = checkLevel(check);
  return (
    <li className="jp-mlops-check" data-level={level}>
      <span
        className="jp-mlops-check-mark"
        role="img"
        aria-label={check.ok ? trans.__('passed') : trans.__('failed')}
      >
        {MARKS[level]}
      </span>
      <span className="jp-mlops-check-name">{check.name}</span>
      <span
        className="jp-mlops-check-elapsed"
        title={trans.__('How long the check took')}
      >
        {formatMs(check.elapsed_ms)}
      </span>
      <span className="jp-mlops-check-message">{check.message}</span>
    </li>
  );
}

function stateLabel(state: SectionState, trans: TranslationBundle): string {
  switch (state) {
    case 'ok':
      return trans.__('ok');
    case 'warning':
      return trans.__('warning');
    case 'error':
      return trans.__('error');
    case 'loading':
      return trans.__('checking');
  }
}
