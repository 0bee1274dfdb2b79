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

export interface ICapabilityHealthProps {
  id: CapabilityId;
  state: SectionState;
  /** The last answer for this capability; null before one arrived. */
  capability: ICapabilityStatus | null;
  /** What to say when there is no answer for this capability. */
  placeholder: string;
  /** The answer is older than a failed request that followed it. */
  stale: boolean;
  trans: TranslationBundle;
}

/**
 * The health of a capability's backends in its section's body, folded into one line
 * (the dot and the summary stand in the section's title bar): a click unfolds the
 * summary in full and every measured check with its message.
 */
export function CapabilityHealth(props: ICapabilityHealthProps): JSX.Element {
  const { id, state, capability, stale, trans } = props;
  const className = `jp-mlops-section${stale ? ' jp-mlops-mod-stale' : ''}`;
  const checks = capability?.checks ?? [];
  const failing = checks.filter(check => checkLevel(check) !== 'ok').length;
  let line = props.placeholder;
  if (capability) {
    line =
      failing === 0
        ? trans._n('%1 check passed', '%1 checks passed', checks.length)
        : trans.__('%1 of %2 checks need a look', failing, checks.length);
  }
  return (
    <div
      className={className}
      data-mlops-section={id}
      data-state={state}
      aria-busy={state === 'loading'}
    >
      <details className="jp-mlops-checks-fold" data-failing={failing}>
        <summary className="jp-mlops-checks-summary">{line}</summary>
        {capability && (
          <p className="jp-mlops-section-summary">{capability.summary}</p>
        )}
        {checks.length > 0 && (
          <ul className="jp-mlops-checks">
            {checks.map(check => (
              <CheckRow key={check.name} check={check} trans={trans} />
            ))}
          </ul>
        )}
      </details>
    </div>
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

/** The words for a state (the dot's label for screen readers). */
export function stateLabel(
  state: SectionState,
  trans: TranslationBundle
): string {
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
