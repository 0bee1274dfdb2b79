import { JupyterFrontEnd } from '@jupyterlab/application';
import { InputDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { DeployModel } from './model';
import { DEPLOY_MODEL_COMMAND, IDeployment, IDeployRequest } from './tokens';

function text(args: ReadonlyPartialJSONObject, key: string): string {
  const value = args[key];
  return typeof value === 'string' ? value.trim() : '';
}

/**
 * `mlops:deploy-model {model, folder?, name?, target?}`: deploys like the panel's form,
 * shows the Deploy panel with the progress, and resolves with the final deployment
 * (rejects with the server's message). Without a model it asks for one.
 */
export function addDeployCommand(options: {
  app: JupyterFrontEnd;
  model: DeployModel;
  /** The folder of the document in use (relative to the server root). */
  folder: () => string;
  /** Show the sidebar's Deploy panel. */
  reveal: () => void;
  trans: TranslationBundle;
}): void {
  const { app, model, trans } = options;
  app.commands.addCommand(DEPLOY_MODEL_COMMAND, {
    label: trans.__('Deploy model'),
    caption: trans.__(
      'Deploy a model (runs:/…, models:/…) and follow it in the Deploy panel'
    ),
    describedBy: {
      args: {
        type: 'object',
        properties: {
          model: {
            type: 'string',
            description:
              'runs:/RUN_ID/model, models:/NAME@ALIAS or models:/NAME/N'
          },
          folder: {
            type: 'string',
            description: 'the project folder, relative to the server root'
          },
          name: { type: 'string', description: 'the deployment name' },
          target: { type: 'string', enum: ['local', 'kserve', 'sagemaker'] }
        }
      }
    },
    execute: async (args): Promise<IDeployment | null> => {
      let uri = text(args, 'model');
      if (!uri) {
        const asked = await InputDialog.getText({
          title: trans.__('Deploy model'),
          label: trans.__('Model URI'),
          placeholder: trans.__(
            'runs:/… · models:/name@alias · models:/name/N'
          ),
          okLabel: trans.__('Deploy')
        });
        uri = (asked.value ?? '').trim();
        if (!asked.button.accept || !uri) {
          return null;
        }
      }
      const request: IDeployRequest = { model: uri };
      const name = text(args, 'name');
      const target = text(args, 'target');
      if (name) {
        request.name = name;
      }
      if (target) {
        request.target = target;
      }
      const folder =
        typeof args.folder === 'string' ? args.folder : options.folder();
      const done = model.deploy(request, folder);
      options.reveal();
      return done;
    }
  });
}
