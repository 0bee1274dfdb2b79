import { TranslationBundle } from '@jupyterlab/translation';
import { Button, HTMLSelect, InputGroup } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IDeployRequest, IDeployTarget } from '../tokens';

export interface IDeployFormProps {
  targets: IDeployTarget[];
  defaultTarget: string;
  onDeploy: (request: IDeployRequest) => void;
  trans: TranslationBundle;
}

/**
 * "Deploy a model": a model URI, the target, a name, the GPU and a canary share;
 * for KServe, a dry run (the InferenceService YAML, nothing applied), which is all
 * KServe offers where the server has no cluster. The deploy itself runs on the
 * server; its progress shows above the form.
 */
export function DeployForm(props: IDeployFormProps): JSX.Element {
  const { targets, defaultTarget, onDeploy, trans } = props;
  const [model, setModel] = React.useState('');
  const [target, setTarget] = React.useState('');
  const [name, setName] = React.useState('');
  const [gpu, setGpu] = React.useState('');
  const [canary, setCanary] = React.useState('');
  const [dryRunAsked, setDryRun] = React.useState(false);
  const [problem, setProblem] = React.useState<string | null>(null);
  const chosen = target || defaultTarget;
  const chosenTarget = targets.find(t => t.id === chosen);
  // a dry run is offered where the target knows one; the only choice without a cluster
  const canDryRun = chosenTarget?.dry_run === true;
  const dryRunOnly = canDryRun && !chosenTarget?.available;
  const dryRun = canDryRun && (dryRunAsked || dryRunOnly);

  const submit = (event: React.FormEvent): void => {
    event.preventDefault();
    const uri = model.trim();
    if (!uri) {
      setProblem(
        trans.__(
          'Give a model URI: runs:/RUN_ID/model, models:/NAME@ALIAS or models:/NAME/VERSION.'
        )
      );
      return;
    }
    const request: IDeployRequest = { model: uri, target: chosen };
    if (dryRun) {
      request.dry_run = true;
    }
    if (name.trim()) {
      request.name = name.trim();
    }
    if (gpu.trim()) {
      request.gpu = gpu.trim();
    }
    if (canary.trim()) {
      const percent = Number(canary);
      if (!Number.isInteger(percent) || percent < 1 || percent > 99) {
        setProblem(trans.__('Canary is a whole percentage from 1 to 99.'));
        return;
      }
      request.canary = percent;
    }
    setProblem(null);
    onDeploy(request);
  };

  return (
    <form className="jp-mlops-deploy-form" onSubmit={submit}>
      <label>
        <span>{trans.__('Model')}</span>
        <InputGroup
          name="model"
          placeholder={trans.__(
            'runs:/… · models:/name@alias · models:/name/N'
          )}
          value={model}
          spellCheck={false}
          onChange={event => setModel(event.target.value)}
        />
      </label>
      <div className="jp-mlops-deploy-form-row">
        <label>
          <span>{trans.__('Target')}</span>
          <HTMLSelect
            name="target"
            value={chosen}
            onChange={event => setTarget(event.target.value)}
            options={targets.map(t => ({
              value: t.id,
              label: t.available ? t.id : `${t.id} (${t.detail})`,
              disabled: !t.available && t.dry_run !== true
            }))}
          />
        </label>
        <label>
          <span>{trans.__('Name')}</span>
          <InputGroup
            name="name"
            placeholder={trans.__('from the model')}
            value={name}
            spellCheck={false}
            onChange={event => setName(event.target.value)}
          />
        </label>
      </div>
      <div className="jp-mlops-deploy-form-row">
        <label
          title={trans.__(
            'auto, none (CPU) or a CUDA device index; for KServe, GPUs per replica'
          )}
        >
          <span>{trans.__('GPU')}</span>
          <InputGroup
            name="gpu"
            placeholder={trans.__('auto')}
            value={gpu}
            onChange={event => setGpu(event.target.value)}
          />
        </label>
        <label
          title={trans.__(
            'Deploying to a name already serving: the new version gets this share of the traffic'
          )}
        >
          <span>{trans.__('Canary %')}</span>
          <InputGroup
            name="canary"
            type="number"
            min={1}
            max={99}
            placeholder="—"
            value={canary}
            onChange={event => setCanary(event.target.value)}
          />
        </label>
      </div>
      {canDryRun && (
        <label
          className="jp-mlops-deploy-dry-run"
          title={trans.__(
            'Show the InferenceService YAML the server makes; nothing is applied'
          )}
        >
          <input
            type="checkbox"
            name="dry_run"
            checked={dryRun}
            disabled={dryRunOnly}
            onChange={event => setDryRun(event.target.checked)}
          />
          <span>
            {dryRunOnly
              ? trans.__('Dry run (no cluster here: YAML only)')
              : trans.__('Dry run (YAML only, apply nothing)')}
          </span>
        </label>
      )}
      {problem && (
        <div className="jp-mlops-deploy-error" role="alert">
          {problem}
        </div>
      )}
      <div className="jp-mlops-deploy-actions">
        <Button type="submit" small>
          {dryRun ? trans.__('Dry run') : trans.__('Deploy')}
        </Button>
      </div>
    </form>
  );
}
