import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  canRollBack,
  currentVersion,
  exampleInput,
  latencyText,
  modelLabel,
  rolloutText,
  shortUrl,
  statusState,
  trafficText
} from '../format';
import { ExternalLink } from '../../components/links';
import { IDeployment, IPredictions } from '../tokens';
import { TryIt } from './TryIt';

export interface IDeploymentCardProps {
  deployment: IDeployment;
  /** A rollback or undeploy of this deployment is under way. */
  busy: boolean;
  onLogs: () => void;
  /** Show the deployment in the Monitor panel; no link without it. */
  onMonitor?: () => void;
  onRollback: () => void;
  onUndeploy: () => void;
  predict: (data: unknown) => Promise<IPredictions>;
  trans: TranslationBundle;
}

/**
 * One deployment: status, health, the device it really runs on, model and version,
 * traffic split, recent latency and URL; Logs, Monitor, Rollback, Undeploy and a "try
 * it" box.
 */
export function DeploymentCard(props: IDeploymentCardProps): JSX.Element {
  const { deployment: d, busy, trans } = props;
  const current = currentVersion(d);
  const traffic = trafficText(d);
  const latency = latencyText(d);
  const rollback = canRollBack(d);
  const rollout = rolloutText(d);
  const live = d.status === 'serving' || d.status === 'restarting';
  return (
    <div
      className="jp-mlops-deploy-card"
      data-deployment={d.name}
      data-status={d.status}
    >
      <div className="jp-mlops-deploy-card-header">
        <span className="jp-mlops-dot" data-state={statusState(d.status)} />
        <span className="jp-mlops-deploy-card-name">{d.name}</span>
        <span className="jp-mlops-deploy-status" data-field="status">
          {d.status}
        </span>
        <span className="jp-mlops-deploy-tag">{d.target}</span>
      </div>
      <dl className="jp-mlops-deploy-facts">
        {current && (
          <>
            <dt>{trans.__('Model')}</dt>
            <dd data-field="model" title={current.model_uri}>
              {modelLabel(current)}{' '}
              <span className="jp-mlops-deploy-muted">
                {trans.__('(version %1)', String(current.version))}
              </span>
            </dd>
          </>
        )}
        {current?.run_id && (
          <>
            <dt>{trans.__('Run')}</dt>
            <dd title={current.run_id}>
              <code>{current.run_id.slice(0, 12)}</code>
            </dd>
          </>
        )}
        <dt>{trans.__('Device')}</dt>
        <dd data-field="device">{d.device ?? '-'}</dd>
        <dt>{trans.__('Health')}</dt>
        <dd data-field="health" data-state={d.health === 'ok' ? 'ok' : 'error'}>
          {d.health}
        </dd>
        {traffic && (
          <>
            <dt>{trans.__('Traffic')}</dt>
            <dd data-field="traffic">{traffic}</dd>
          </>
        )}
        <dt>{trans.__('Latency')}</dt>
        <dd data-field="latency">{latency ?? trans.__('no requests yet')}</dd>
        {d.url && (
          <>
            <dt>{trans.__('URL')}</dt>
            <dd data-field="url">
              <ExternalLink url={d.url}>{shortUrl(d.url)}</ExternalLink>
            </dd>
          </>
        )}
        {rollout && (
          <>
            <dt>
              {d.details?.rollout?.ok === false
                ? trans.__('Last rollout')
                : trans.__('Rollout')}
            </dt>
            <dd
              data-field="rollout"
              data-state={
                d.details?.rollout?.ok === false ? 'error' : 'warning'
              }
            >
              {rollout}
            </dd>
          </>
        )}
        {d.message && (
          <>
            <dt>{trans.__('Note')}</dt>
            <dd>{d.message}</dd>
          </>
        )}
      </dl>
      <div className="jp-mlops-deploy-actions">
        <Button small minimal onClick={props.onLogs}>
          {trans.__('Logs')}
        </Button>
        {props.onMonitor && (
          <Button
            small
            minimal
            className="jp-mlops-deploy-monitor"
            title={trans.__(
              'Requests, latency, errors and the latest requests, in the Monitor panel'
            )}
            onClick={props.onMonitor}
          >
            {trans.__('Monitor')}
          </Button>
        )}
        <Button
          small
          minimal
          disabled={busy || !rollback || !live}
          title={
            rollback
              ? trans.__('Return to the previous version (or drop the canary)')
              : trans.__('Nothing to roll back to: one version has served')
          }
          onClick={props.onRollback}
        >
          {trans.__('Rollback')}
        </Button>
        <Button
          small
          minimal
          className="jp-mlops-deploy-undeploy"
          disabled={busy}
          onClick={props.onUndeploy}
        >
          {trans.__('Undeploy')}
        </Button>
      </div>
      {live && d.url && (
        <details className="jp-mlops-deploy-tryit-details">
          <summary>{trans.__('Try it')}</summary>
          <TryIt
            // a new version serving starts the box afresh: no answer of the last one
            key={d.version ?? 0}
            example={exampleInput(current)}
            predict={props.predict}
            trans={trans}
          />
        </details>
      )}
    </div>
  );
}
