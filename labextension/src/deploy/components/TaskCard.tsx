import { TranslationBundle } from '@jupyterlab/translation';
import { Clipboard } from '@jupyterlab/apputils';
import { Button, closeIcon, copyIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { formatMs } from '../../components/format';
import { ExternalLink } from '../../components/links';
import { shortUrl } from '../format';
import { ITrackedTask } from '../model';
import { IDeployment } from '../tokens';

export interface ITaskCardProps {
  tracked: ITrackedTask;
  onDismiss: (tracked: ITrackedTask) => void;
  trans: TranslationBundle;
}

/**
 * A deploy or rollback started from this page: its progress lines as they come,
 * then the deployment's URL, device and warm-up latency (or, for a dry run, the YAML
 * the server made), or the one-line reason it failed.
 */
export function TaskCard(props: ITaskCardProps): JSX.Element {
  const { tracked, onDismiss, trans } = props;
  const { task } = tracked;
  const listRef = React.useRef<HTMLOListElement>(null);
  React.useEffect(() => {
    const list = listRef.current;
    if (list) {
      list.scrollTop = list.scrollHeight; // follow the newest line
    }
  }, [task.progress.length]);

  const title =
    task.kind === 'rollback'
      ? trans.__('Rolling back %1', tracked.label)
      : tracked.dryRun
        ? trans.__('Dry run of %1', tracked.label)
        : trans.__('Deploying %1', tracked.label);
  const deployment = task.deployment;
  const progress = (
    <ol className="jp-mlops-deploy-progress" ref={listRef}>
      {task.progress.map((line, i) => (
        <li key={i}>
          <span className="jp-mlops-deploy-progress-time">
            {trans.__('%1 s', line.t.toFixed(1))}
          </span>
          <span>{line.message}</span>
        </li>
      ))}
    </ol>
  );
  return (
    <div
      className="jp-mlops-deploy-task"
      data-state={task.state}
      data-task-id={task.id}
      data-origin={tracked.elsewhere ? 'elsewhere' : 'here'}
    >
      <div className="jp-mlops-deploy-task-header">
        <span
          className="jp-mlops-dot"
          data-state={
            task.state === 'done'
              ? 'ok'
              : task.state === 'failed'
                ? 'error'
                : 'loading'
          }
        />
        <span className="jp-mlops-deploy-task-title" title={tracked.label}>
          {title}
        </span>
        {tracked.elsewhere && (
          <span
            className="jp-mlops-deploy-tag"
            title={trans.__('Started in another tab or browser')}
          >
            {trans.__('elsewhere')}
          </span>
        )}
        {task.state !== 'running' && (
          <Button
            minimal
            small
            className="jp-mlops-deploy-dismiss"
            title={trans.__('Dismiss')}
            aria-label={trans.__('Dismiss')}
            onClick={() => onDismiss(tracked)}
          >
            <closeIcon.react tag="span" />
          </Button>
        )}
      </div>
      {task.progress.length > 0 &&
        (task.state === 'running' ? (
          progress
        ) : (
          <details className="jp-mlops-deploy-progress-details">
            <summary>
              {trans._n(
                '%1 step in %2',
                '%1 steps in %2',
                task.progress.length,
                formatMs(
                  ((task.finished_at ?? task.started_at) - task.started_at) *
                    1000
                )
              )}
            </summary>
            {progress}
          </details>
        ))}
      {task.state === 'failed' && (
        <div className="jp-mlops-deploy-task-error" role="alert">
          {task.error}
        </div>
      )}
      {task.state === 'done' &&
        deployment?.status === 'dry-run' &&
        deployment.details?.yaml !== undefined && (
          <DryRunResult deployment={deployment} trans={trans} />
        )}
      {task.state === 'done' &&
        deployment?.status !== 'dry-run' &&
        deployment && (
          <dl className="jp-mlops-deploy-facts jp-mlops-deploy-result">
            <dt>{trans.__('Name')}</dt>
            <dd>{deployment.name}</dd>
            {deployment.url && (
              <>
                <dt>{trans.__('URL')}</dt>
                <dd>
                  <ExternalLink url={deployment.url}>
                    {shortUrl(deployment.url)}
                  </ExternalLink>
                </dd>
              </>
            )}
            <dt>{trans.__('Device')}</dt>
            <dd data-field="device">{deployment.device ?? '-'}</dd>
            {deployment.warmup_ms !== null && (
              <>
                <dt>{trans.__('Warm-up')}</dt>
                <dd>{formatMs(deployment.warmup_ms)}</dd>
              </>
            )}
            {task.token && (
              <>
                <dt>{trans.__('Token')}</dt>
                <dd className="jp-mlops-deploy-token">
                  <code>{task.token}</code>
                  <div>
                    {trans.__(
                      'Shown once: send it as "Authorization: Bearer TOKEN" to /invocations (predict does). It is kept in the deployment\'s secret.json.'
                    )}
                  </div>
                </dd>
              </>
            )}
          </dl>
        )}
    </div>
  );
}

/** What a dry run made: the YAML (read-only, with a copy button), where it was written. */
function DryRunResult(props: {
  deployment: IDeployment;
  trans: TranslationBundle;
}): JSX.Element {
  const { deployment, trans } = props;
  const yaml = deployment.details?.yaml ?? '';
  const [copied, setCopied] = React.useState(false);
  return (
    <div className="jp-mlops-deploy-dry-run-result">
      <div className="jp-mlops-deploy-dry-run-header">
        <span>
          {trans.__(
            'InferenceService %1 (namespace %2): nothing was applied.',
            deployment.name,
            deployment.details?.namespace ?? 'default'
          )}
        </span>
        <Button
          minimal
          small
          className="jp-mlops-deploy-copy"
          title={trans.__('Copy the YAML')}
          aria-label={trans.__('Copy the YAML')}
          onClick={() => {
            Clipboard.copyToSystem(yaml);
            setCopied(true);
          }}
        >
          <copyIcon.react tag="span" />
          <span>{copied ? trans.__('Copied') : trans.__('Copy')}</span>
        </Button>
      </div>
      {deployment.message && (
        <div className="jp-mlops-deploy-note">{deployment.message}</div>
      )}
      <textarea
        className="jp-mlops-deploy-yaml"
        readOnly
        spellCheck={false}
        rows={Math.min(18, yaml.split('\n').length)}
        value={yaml}
        aria-label={trans.__('InferenceService YAML')}
      />
      {deployment.details?.manifest && (
        <div className="jp-mlops-deploy-muted" data-field="manifest">
          {trans.__('Also written to %1', deployment.details.manifest)}
        </div>
      )}
    </div>
  );
}
