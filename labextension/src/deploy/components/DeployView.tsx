import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { DeployModel, ITrackedTask } from '../model';
import { IDeployment, IDeployRequest } from '../tokens';
import { DeploymentCard } from './DeploymentCard';
import { DeployForm } from './DeployForm';
import { TaskCard } from './TaskCard';

export interface IDeployViewProps {
  model: DeployModel;
  /** Names with a rollback or undeploy under way. */
  busy: ReadonlySet<string>;
  onLogs: (deployment: IDeployment) => void;
  onMonitor?: (deployment: IDeployment) => void;
  onRollback: (deployment: IDeployment) => void;
  onUndeploy: (deployment: IDeployment) => void;
  onDeploy: (request: IDeployRequest) => void;
  trans: TranslationBundle;
}

/**
 * The Deploy panel: deploys in progress, the project's deployments, the targets and
 * the "Deploy a model" form.
 */
export function DeployView(props: IDeployViewProps): JSX.Element {
  const { model, busy, trans } = props;
  const reply = model.reply;
  const deployments = reply?.deployments ?? [];
  return (
    <div className="jp-mlops-deploy">
      {model.tasks.length > 0 && (
        <div className="jp-mlops-deploy-tasks">
          {model.tasks.map((tracked: ITrackedTask, i) => (
            <TaskCard
              key={tracked.task.id || `pending-${i}`}
              tracked={tracked}
              onDismiss={t => model.dismiss(t)}
              trans={trans}
            />
          ))}
        </div>
      )}
      {model.failure && (
        <div className="jp-mlops-deploy-error" role="alert">
          {trans.__('Could not list the deployments: %1', model.failure)}
        </div>
      )}
      <h3 className="jp-mlops-deploy-heading">
        {trans.__('Deployments')}
        {reply && (
          <span className="jp-mlops-deploy-muted"> ({deployments.length})</span>
        )}
      </h3>
      {reply === null && !model.failure && (
        <p className="jp-mlops-deploy-muted">{trans.__('Loading…')}</p>
      )}
      {reply && deployments.length === 0 && (
        <p className="jp-mlops-deploy-muted jp-mlops-deploy-empty">
          {trans.__('No deployments in this project yet.')}
        </p>
      )}
      {deployments.map(d => (
        <DeploymentCard
          key={d.name}
          deployment={d}
          busy={busy.has(d.name)}
          onLogs={() => props.onLogs(d)}
          onMonitor={props.onMonitor && (() => props.onMonitor?.(d))}
          onRollback={() => props.onRollback(d)}
          onUndeploy={() => props.onUndeploy(d)}
          predict={data => model.predict(d.name, data)}
          trans={trans}
        />
      ))}
      <details className="jp-mlops-deploy-new" open>
        <summary className="jp-mlops-deploy-heading">
          {trans.__('Deploy a model')}
        </summary>
        {reply && (
          <DeployForm
            targets={reply.targets}
            defaultTarget={reply.default_target}
            onDeploy={props.onDeploy}
            trans={trans}
          />
        )}
        {reply && (
          <ul
            className="jp-mlops-deploy-targets"
            aria-label={trans.__('Targets')}
          >
            {reply.targets.map(t => (
              <li
                key={t.id}
                data-target={t.id}
                data-available={String(t.available)}
              >
                <span
                  className="jp-mlops-dot"
                  data-state={t.available ? 'ok' : 'off'}
                />
                <span className="jp-mlops-deploy-target-id">{t.id}</span>
                {t.id === reply.default_target && (
                  <span className="jp-mlops-deploy-tag">
                    {trans.__('default')}
                  </span>
                )}
                <span className="jp-mlops-deploy-muted">{t.detail}</span>
              </li>
            ))}
          </ul>
        )}
      </details>
    </div>
  );
}
