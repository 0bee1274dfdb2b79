import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { registerModel } from './api';
import { describe } from './model';
import { IRegistration, IRun, IRunModel } from './tokens';

interface IRegisterInput {
  model: string;
  name: string;
  alias: string;
}

/** The form of the register dialog: which model, the registered name, an alias. */
class RegisterForm
  extends Widget
  implements Dialog.IBodyWidget<IRegisterInput>
{
  constructor(models: IRunModel[], trans: TranslationBundle) {
    super();
    this.addClass('jp-mlops-experiments-register');
    this._model = document.createElement('select');
    for (const m of models) {
      const option = document.createElement('option');
      option.value = m.name;
      option.textContent = m.flavor ? `${m.name} (${m.flavor})` : m.name;
      this._model.appendChild(option);
    }
    this._name = document.createElement('input');
    this._name.value = models[0]?.name ?? '';
    this._model.addEventListener('change', () => {
      this._name.value = this._model.value;
    });
    this._alias = document.createElement('input');
    this._alias.placeholder = trans.__('e.g. champion (optional)');
    const rows: [string, HTMLElement][] = [
      [trans.__('Model'), this._model],
      [trans.__('Registered name'), this._name],
      [trans.__('Alias'), this._alias]
    ];
    for (const [text, input] of rows) {
      if (input === this._model && models.length < 2) {
        continue;
      }
      const label = document.createElement('label');
      label.textContent = text;
      input.classList.add('jp-mod-styled');
      input.dataset.field = text === trans.__('Alias') ? 'alias' : 'name';
      if (input === this._model) {
        input.dataset.field = 'model';
      }
      label.appendChild(input);
      this.node.appendChild(label);
    }
  }

  getValue(): IRegisterInput {
    return {
      model: this._model.value,
      name: this._name.value.trim(),
      alias: this._alias.value.trim()
    };
  }

  private readonly _model: HTMLSelectElement;
  private readonly _name: HTMLInputElement;
  private readonly _alias: HTMLInputElement;
}

/**
 * Ask for a registered name and an alias, register the run's model, and say how it
 * went. Resolves with the new version, or null when cancelled or refused.
 */
export async function askRegister(options: {
  run: IRun;
  folder: string;
  model?: IRunModel;
  trans: TranslationBundle;
}): Promise<IRegistration | null> {
  const { run, folder, trans } = options;
  const models = options.model ? [options.model] : run.models;
  const result = await showDialog({
    title: trans.__('Register the model of %1', run.run_name || run.run_id),
    body: new RegisterForm(models, trans),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Register') })
    ],
    focusNodeSelector: 'input'
  });
  if (!result.button.accept || !result.value) {
    return null;
  }
  const value = result.value;
  try {
    const done = await registerModel(folder, run.run_id, {
      model: models.length > 1 || options.model ? value.model : undefined,
      name: value.name || undefined,
      alias: value.alias || undefined
    });
    Notification.success(
      trans.__(
        'Registered %1 version %2 · %3',
        done.name,
        done.version,
        done.uri
      ),
      { autoClose: 6000 }
    );
    return done;
  } catch (error) {
    Notification.error(trans.__('Register failed: %1', describe(error)), {
      autoClose: false
    });
    return null;
  }
}
