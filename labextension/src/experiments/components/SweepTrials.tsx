import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ExternalLink } from '../../components/links';
import { formatDuration, formatMetric, statusState } from '../format';
import { ISweepDetail } from '../tokens';

/** A sweep's trials by number: state, value of the objective, params, duration. */
export function SweepTrials(props: {
  detail: ISweepDetail;
  trans: TranslationBundle;
}): JSX.Element {
  const { detail, trans } = props;
  const best = detail.best?.run_id;
  const names = detail.param_names;
  return (
    <div className="jp-mlops-sweep-trials-scroll">
      <table className="jp-mlops-sweep-trials">
        <thead>
          <tr>
            <th>#</th>
            <th>{trans.__('state')}</th>
            <th>{detail.summary.metric}</th>
            {names.map(name => (
              <th key={name}>{name}</th>
            ))}
            <th>{trans.__('time')}</th>
          </tr>
        </thead>
        <tbody>
          {detail.trials.map(trial => (
            <tr
              key={trial.run_id}
              data-trial={trial.number ?? ''}
              data-run-id={trial.run_id}
              data-state={trial.state}
              className={trial.run_id === best ? 'jp-mod-best' : ''}
              title={trial.error ?? trial.run_id}
            >
              <td>
                {trial.url ? (
                  <ExternalLink url={trial.url}>
                    {trial.number ?? '?'}
                  </ExternalLink>
                ) : (
                  (trial.number ?? '?')
                )}
              </td>
              <td>
                <span
                  className="jp-mlops-dot"
                  data-state={statusState(trial.status)}
                />{' '}
                {trial.state}
              </td>
              <td className="jp-mlops-experiments-number" data-value>
                {trial.value === null ? '' : formatMetric(trial.value)}
              </td>
              {names.map(name => (
                <td key={name} data-param={name}>
                  {shortValue(trial.params[name])}
                </td>
              ))}
              <td className="jp-mlops-experiments-number">
                {formatDuration(trial.duration)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {detail.truncated && (
        <p className="jp-mlops-experiments-muted">
          {trans.__('The first 1000 trials.')}
        </p>
      )}
    </div>
  );
}

/** A param as MLflow keeps it (text): numbers to 4 significant digits. */
function shortValue(text: string | undefined): string {
  if (text === undefined) {
    return '';
  }
  const number = Number(text);
  return text.trim() !== '' && Number.isFinite(number)
    ? formatMetric(number)
    : text;
}
