import { Notification } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ExternalLink } from '../../components/links';
import { fetchSweep, registerModel } from '../api';
import { formatMetric } from '../format';
import {
  ACTIVE_POLL_S,
  describe,
  ExperimentsModel,
  IDeployState
} from '../model';
import { IRun, IRunModel, ISweepDetail, ISweepSummary } from '../tokens';
import { SweepCharts } from './SweepCharts';
import { SweepTrials } from './SweepTrials';

/** The alias "Register best" points at the best trial's new model version. */
export const BEST_ALIAS = 'champion';

/** "12 of 20 trials · 1 running · 2 failed · 3 pruned". */
export function sweepCounts(
  summary: ISweepSummary,
  trans: TranslationBundle
): string {
  const { counts } = summary;
  const parts = [
    summary.planned !== null
      ? trans.__('%1 of %2 trials', summary.trials, summary.planned)
      : trans._n('%1 trial', '%1 trials', summary.trials)
  ];
  if (counts.running) {
    parts.push(trans.__('%1 running', counts.running));
  }
  if (counts.fail) {
    parts.push(trans.__('%1 failed', counts.fail));
  }
  if (counts.pruned) {
    parts.push(trans.__('%1 pruned', counts.pruned));
  }
  return parts.join(' · ');
}

/** The tag on a sweep's line in the list: what it is, how far it got. */
export function SweepBadge(props: {
  summary: ISweepSummary;
  trans: TranslationBundle;
}): JSX.Element {
  const { summary, trans } = props;
  return (
    <span
      className="jp-mlops-experiments-tag jp-mlops-sweep-badge"
      data-trials={summary.trials}
      title={trans.__(
        'A sweep of %1 (%2 %3): open it for its trials',
        summary.study ?? '',
        summary.direction,
        summary.metric
      )}
    >
      {trans.__('sweep')} · {sweepCounts(summary, trans)}
    </span>
  );
}

export interface ISweepDetailsProps {
  run: IRun;
  summary: ISweepSummary;
  model: ExperimentsModel;
  rendermime: IRenderMimeRegistry | null;
  onDeploy: (model: IRunModel) => void;
  trans: TranslationBundle;
}

/**
 * A sweep opened in the list: its best trial (register it with alias champion, deploy
 * it), the optimization history and parallel coordinates charts, and its trials. It
 * fetches again when the list's line of the sweep changes, and every few seconds while
 * a trial is running.
 */
export function SweepDetails(props: ISweepDetailsProps): JSX.Element {
  const { run, summary, model, rendermime, trans } = props;
  const folder = model.projectFolder;
  const [detail, setDetail] = React.useState<ISweepDetail | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [tick, setTick] = React.useState(0);
  const [registered, setRegistered] = React.useState<IDeployState | null>(null);
  // what the list's poll says of the sweep: a change means new trials or results
  const seen = `${run.status}:${summary.trials}:${JSON.stringify(summary.counts)}`;
  React.useEffect(() => {
    let live = true;
    fetchSweep(folder, run.run_id)
      .then(found => {
        if (live) {
          setDetail(found);
          setError(null);
        }
      })
      .catch(reason => live && setError(describe(reason)));
    return () => {
      live = false;
    };
  }, [folder, run.run_id, seen, tick]);
  React.useEffect(() => {
    if (!detail?.active) {
      return;
    }
    const timer = window.setTimeout(() => {
      if (!document.hidden) {
        setTick(t => t + 1);
      }
    }, ACTIVE_POLL_S * 1000);
    return () => window.clearTimeout(timer);
  }, [detail, tick]);

  const best = detail?.best ?? null;
  const bestModel = best?.models[0] ?? null;
  const deploy = bestModel ? model.deployState(bestModel.uri) : null;

  const registerBest = async (): Promise<void> => {
    if (!best || !bestModel) {
      return;
    }
    setRegistered({ state: 'running', message: trans.__('registering…') });
    try {
      const done = await registerModel(folder, best.run_id, {
        model: best.models.length > 1 ? bestModel.name : undefined,
        alias: BEST_ALIAS
      });
      const message = trans.__(
        'Registered %1 version %2 · %3',
        done.name,
        done.version,
        done.uri
      );
      setRegistered({ state: 'done', message });
      Notification.success(message, { autoClose: 6000 });
    } catch (reason) {
      setRegistered({ state: 'failed', message: describe(reason) });
    }
  };

  return (
    <div
      className="jp-mlops-experiments-details jp-mlops-sweep"
      data-run-id={run.run_id}
      data-active={detail?.active ?? run.status === 'RUNNING'}
    >
      {run.error && (
        <div className="jp-mlops-experiments-error">{run.error}</div>
      )}
      <dl className="jp-mlops-experiments-pairs">
        <dt>{trans.__('study')}</dt>
        <dd>
          <code>{summary.study ?? run.run_name}</code>
        </dd>
        <dt>{trans.__('objective')}</dt>
        <dd>
          {summary.direction} {summary.metric}
        </dd>
        <dt>{trans.__('trials')}</dt>
        <dd data-kind="counts">{sweepCounts(summary, trans)}</dd>
        <dt>{trans.__('best')}</dt>
        <dd data-kind="best">
          {best
            ? trans.__(
                '%1 = %2 (trial %3)',
                summary.metric,
                formatMetric(best.value),
                best.number ?? '?'
              )
            : trans.__('no trial completed yet')}
        </dd>
        {best &&
          Object.entries(best.params).map(([k, v]) => (
            <React.Fragment key={k}>
              <dt>{k}</dt>
              <dd data-best-param={k}>{v}</dd>
            </React.Fragment>
          ))}
      </dl>
      <div className="jp-mlops-experiments-model-head">
        <button
          className="jp-mlops-experiments-button"
          data-action="register-best"
          disabled={!bestModel || registered?.state === 'running'}
          title={
            bestModel
              ? trans.__(
                  'Register %1 of the best trial with alias %2',
                  bestModel.name,
                  BEST_ALIAS
                )
              : trans.__('The best trial logged no model')
          }
          onClick={() => void registerBest()}
        >
          {trans.__('Register best')}
        </button>
        <button
          className="jp-mlops-experiments-button jp-mod-accept"
          data-action="deploy-best"
          disabled={!bestModel || deploy?.state === 'running'}
          title={
            bestModel
              ? trans.__('Deploy %1 of the best trial', bestModel.name)
              : trans.__('The best trial logged no model')
          }
          onClick={() => bestModel && props.onDeploy(bestModel)}
        >
          {trans.__('Deploy best')}
        </button>
      </div>
      {[registered, deploy].map(
        (state, i) =>
          state && (
            <div
              key={i}
              className="jp-mlops-experiments-deploy-state"
              data-kind={i === 0 ? 'register' : 'deploy'}
              data-state={state.state}
            >
              {state.message}
            </div>
          )
      )}
      {error && <div className="jp-mlops-experiments-error">{error}</div>}
      {!error && detail === null && (
        <p className="jp-mlops-experiments-muted">{trans.__('Loading…')}</p>
      )}
      {detail && (
        <>
          <SweepCharts detail={detail} rendermime={rendermime} trans={trans} />
          <h4 className="jp-mlops-experiments-subheading">
            {trans.__('Trials')}
          </h4>
          <SweepTrials detail={detail} trans={trans} />
        </>
      )}
      {run.url && (
        <ExternalLink className="jp-mlops-experiments-link" url={run.url}>
          {trans.__('Open in MLflow')}
        </ExternalLink>
      )}
    </div>
  );
}
