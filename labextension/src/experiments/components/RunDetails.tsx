import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ExternalLink } from '../../components/links';
import { fetchRun } from '../api';
import { formatMetric, formatTime } from '../format';
import { describe, ExperimentsModel } from '../model';
import { IRun, IRunDetail, IRunModel } from '../tokens';
import { Artifacts } from './Artifacts';

export interface IRunActions {
  onRegister: (run: IRun, model: IRunModel) => void;
  onDeploy: (model: IRunModel) => void;
}

/** A run opened in a list: params, metrics, models (register, deploy), artifacts. */
export function RunDetails(
  props: {
    run: IRun;
    model: ExperimentsModel;
    trans: TranslationBundle;
  } & IRunActions
): JSX.Element {
  const { run, model, trans } = props;
  const folder = model.projectFolder;
  const [detail, setDetail] = React.useState<IRunDetail | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let live = true;
    fetchRun(folder, run.run_id)
      .then(d => live && setDetail(d))
      .catch(e => live && setError(describe(e)));
    return () => {
      live = false;
    };
  }, [folder, run.run_id, run.status]);
  const params = Object.entries(run.params);
  const metrics = Object.entries(run.metrics);
  return (
    <div className="jp-mlops-experiments-details" data-run-id={run.run_id}>
      {run.error && (
        <div className="jp-mlops-experiments-error">{run.error}</div>
      )}
      <dl className="jp-mlops-experiments-pairs">
        <dt>{trans.__('run id')}</dt>
        <dd>
          <code>{run.run_id}</code>
        </dd>
        <dt>{trans.__('started')}</dt>
        <dd>{formatTime(run.start_time)}</dd>
        {run.git_commit && (
          <>
            <dt>{trans.__('git')}</dt>
            <dd>
              <code>{run.git_commit.slice(0, 10)}</code>
            </dd>
          </>
        )}
      </dl>
      <h4 className="jp-mlops-experiments-subheading">
        {trans.__('Parameters')}
      </h4>
      {params.length === 0 ? (
        <p className="jp-mlops-experiments-muted">{trans.__('none')}</p>
      ) : (
        <dl className="jp-mlops-experiments-pairs">
          {params.map(([k, v]) => (
            <React.Fragment key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </React.Fragment>
          ))}
        </dl>
      )}
      <h4 className="jp-mlops-experiments-subheading">
        {trans.__('Metrics (latest)')}
      </h4>
      {metrics.length === 0 ? (
        <p className="jp-mlops-experiments-muted">{trans.__('none')}</p>
      ) : (
        <dl className="jp-mlops-experiments-pairs">
          {metrics.map(([k, v]) => (
            <React.Fragment key={k}>
              <dt>{k}</dt>
              <dd>{formatMetric(v)}</dd>
            </React.Fragment>
          ))}
        </dl>
      )}
      {run.models.length > 0 && (
        <>
          <h4 className="jp-mlops-experiments-subheading">
            {trans.__('Models')}
          </h4>
          <ul className="jp-mlops-experiments-models">
            {run.models.map(m => (
              <ModelRow key={m.uri} {...props} logged={m} />
            ))}
          </ul>
        </>
      )}
      <h4 className="jp-mlops-experiments-subheading">
        {trans.__('Artifacts')}
      </h4>
      {error && <div className="jp-mlops-experiments-error">{error}</div>}
      {!error && detail === null && (
        <p className="jp-mlops-experiments-muted">{trans.__('Loading…')}</p>
      )}
      {detail && (
        <Artifacts
          folder={folder}
          runId={run.run_id}
          root={detail.artifacts}
          trans={trans}
        />
      )}
      {run.url && (
        <ExternalLink className="jp-mlops-experiments-link" url={run.url}>
          {trans.__('Open in MLflow')}
        </ExternalLink>
      )}
    </div>
  );
}

function ModelRow(
  props: {
    run: IRun;
    logged: IRunModel;
    model: ExperimentsModel;
    trans: TranslationBundle;
  } & IRunActions
): JSX.Element {
  const { run, logged, model, trans } = props;
  const deploy = model.deployState(logged.uri);
  return (
    <li className="jp-mlops-experiments-model" data-model-uri={logged.uri}>
      <div className="jp-mlops-experiments-model-head">
        <span className="jp-mlops-experiments-model-name" title={logged.uri}>
          {logged.name}
          {logged.flavor && (
            <span className="jp-mlops-experiments-tag">{logged.flavor}</span>
          )}
        </span>
        <button
          className="jp-mlops-experiments-button"
          data-action="register"
          onClick={() => props.onRegister(run, logged)}
        >
          {trans.__('Register…')}
        </button>
        <button
          className="jp-mlops-experiments-button jp-mod-accept"
          data-action="deploy"
          disabled={deploy?.state === 'running'}
          onClick={() => props.onDeploy(logged)}
        >
          {trans.__('Deploy')}
        </button>
      </div>
      {deploy && (
        <div
          className="jp-mlops-experiments-deploy-state"
          data-state={deploy.state}
        >
          {deploy.message}
        </div>
      )}
    </li>
  );
}
