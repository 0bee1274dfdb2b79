import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { InlineCode } from '../../components/InlineCode';
import { formatDateTime, formatWhen } from '../format';
import { ICheckOutcome } from '../quality';
import {
  ICheckResult,
  IRule,
  IRuleCheck,
  IRuleResult,
  RetrainStatus
} from '../tokens';

export interface IRulesProps {
  /** The deployment's name. */
  name: string;
  rules: IRule[];
  trans: TranslationBundle;
}

/**
 * A deployment's rules: when each fires and the notebook it starts, when it last
 * fired and how that run went (a failed run's error and log).
 */
export function Rules(props: IRulesProps): JSX.Element {
  const { name, rules, trans } = props;
  if (rules.length === 0) {
    return (
      <p className="jp-mlops-monitor-muted jp-mlops-monitor-no-rules">
        <InlineCode
          text={trans.__(
            'No rule yet — `%1`',
            `%mlops rule add ${name} --when drift --then retrain.ipynb`
          )}
        />
      </p>
    );
  }
  return (
    <ul className="jp-mlops-monitor-rules" aria-label={trans.__('Rules')}>
      {rules.map(rule => (
        <li
          key={rule.id}
          className="jp-mlops-monitor-rule"
          data-rule={rule.id}
          data-result={rule.last_result?.status ?? 'none'}
        >
          <div className="jp-mlops-monitor-rule-what">
            <code data-field="when">{rule.when}</code>
            <span aria-hidden="true">→</span>
            <span className="jp-mlops-monitor-visually-hidden">
              {trans.__('starts')}
            </span>
            <code data-field="then">{rule.then}</code>
            {rule.target !== 'local' && (
              <span className="jp-mlops-monitor-tag">{rule.target}</span>
            )}
          </div>
          <div className="jp-mlops-monitor-rule-last" data-field="last">
            {rule.last_fired ? (
              <>
                <span title={formatDateTime(rule.last_fired)}>
                  {trans.__('Last fired %1', formatWhen(rule.last_fired))}
                </span>
                {rule.last_result && (
                  <ResultBadge result={rule.last_result} trans={trans} />
                )}
              </>
            ) : (
              <span className="jp-mlops-monitor-muted">
                {trans.__('Never fired')}
              </span>
            )}
          </div>
          {rule.last_result?.status === 'failed' && (
            <FailedRun result={rule.last_result} trans={trans} />
          )}
        </li>
      ))}
    </ul>
  );
}

/** How the last run went, as a coloured word (and its MLflow run). */
function ResultBadge(props: {
  result: IRuleResult;
  trans: TranslationBundle;
}): JSX.Element {
  const { result, trans } = props;
  const words: Record<RetrainStatus, string> = {
    running: trans.__('running'),
    succeeded: trans.__('succeeded'),
    failed: trans.__('failed')
  };
  return (
    <span
      className="jp-mlops-monitor-rule-result"
      data-status={result.status}
      title={
        result.engine
          ? trans.__('%1 run %2', result.engine, result.engine_run ?? '')
          : result.run_id
            ? trans.__('run %1', result.run_id)
            : undefined
      }
    >
      {words[result.status] ?? result.status}
    </span>
  );
}

/** A failed retraining run: its one-line error, and its log on demand. */
function FailedRun(props: {
  result: IRuleResult;
  trans: TranslationBundle;
}): JSX.Element {
  const { result, trans } = props;
  const log = result.log_tail ?? result.log ?? '';
  return (
    <div className="jp-mlops-monitor-rule-failure">
      {result.error && (
        <div className="jp-mlops-monitor-error">{result.error}</div>
      )}
      {log.includes('\n') ? (
        <details>
          <summary>{trans.__('Log')}</summary>
          <pre className="jp-mlops-monitor-log">{log}</pre>
        </details>
      ) : (
        log && (
          <span className="jp-mlops-monitor-muted">
            {trans.__('Log: %1', log)}
          </span>
        )
      )}
    </div>
  );
}

/**
 * What the last "Check now" found, in one line: per rule, whether it fired, was held
 * back by its cooldown, or did not hold (and why); or why the check failed.
 */
export function CheckLine(props: {
  outcome: ICheckOutcome;
  trans: TranslationBundle;
}): JSX.Element {
  const { outcome, trans } = props;
  if (outcome.error !== null || outcome.result === null) {
    return (
      <div
        className="jp-mlops-monitor-error jp-mlops-monitor-check-result"
        role="alert"
      >
        {outcome.error ?? trans.__('The check gave no result.')}
      </div>
    );
  }
  return (
    <p
      className="jp-mlops-monitor-check-result"
      role="status"
      data-fired={String(outcome.result.rules.some(r => r.fired))}
    >
      {checkLine(outcome.result, trans)}
    </p>
  );
}

/** `Checked at 22:10:03: drift fired (age drifted); rows>10000 not met (412 rows)`. */
export function checkLine(
  result: ICheckResult,
  trans: TranslationBundle
): string {
  const when = formatWhen(result.checked_at);
  if (result.rules.length === 0) {
    return trans.__('Checked at %1: no rule to evaluate.', when);
  }
  return trans.__(
    'Checked at %1: %2',
    when,
    result.rules.map(rule => ruleOutcome(rule, trans)).join('; ')
  );
}

function ruleOutcome(rule: IRuleCheck, trans: TranslationBundle): string {
  const reason = rule.reason ? ` (${rule.reason})` : '';
  if (rule.fired) {
    return trans.__('%1 fired%2', rule.when, reason);
  }
  if (rule.skipped) {
    return trans.__(
      '%1 holds, not fired: %2%3',
      rule.when,
      rule.skipped,
      reason
    );
  }
  if (rule.holds === null) {
    return trans.__('%1 not evaluated%2', rule.when, reason);
  }
  return trans.__('%1 not met%2', rule.when, reason);
}
