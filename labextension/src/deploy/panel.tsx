import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { activeWhileVisible } from '../panels/visibility';
import { DeployView } from './components/DeployView';
import { LogsViews } from './logs';
import { DeployModel, describe } from './model';
import { IDeployment } from './tokens';

/**
 * The Deploy panel of the sidebar. It polls the deployments while it is visible and
 * follows the project of the document in use.
 */
export class DeployPanel extends ReactWidget {
  constructor(options: DeployPanel.IOptions) {
    super();
    this.model = options.model;
    this._logs = options.logs;
    this._onMonitor = options.onMonitor;
    this._trans = options.trans;
    this.addClass('jp-mlops-deploy-panel');
    this.model.changed.connect(this._onChanged, this);
    activeWhileVisible(this, this.model);
  }

  readonly model: DeployModel;

  render(): JSX.Element {
    return (
      <DeployView
        model={this.model}
        busy={this._busy}
        onLogs={d => this._logs.open(this.model.folder, d.name)}
        onMonitor={this._onMonitor}
        onRollback={d => void this._rollback(d)}
        onUndeploy={d => void this._undeploy(d)}
        onDeploy={request => {
          // the task card shows how it ends; nothing else to do with the answer here
          this.model.deploy(request).catch(() => undefined);
        }}
        trans={this._trans}
      />
    );
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this._onChanged, this);
    this.model.active = false;
    super.dispose();
  }

  private async _rollback(d: IDeployment): Promise<void> {
    await this._while(d.name, () => this.model.rollback(d.name));
  }

  private async _undeploy(d: IDeployment): Promise<void> {
    const trans = this._trans;
    const result = await showDialog({
      title: trans.__('Undeploy %1?', d.name),
      body: trans.__(
        'Every version of %1 stops and its endpoint %2 goes away.',
        d.name,
        d.url ?? ''
      ),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.warnButton({ label: trans.__('Undeploy') })
      ]
    });
    if (!result.button.accept) {
      return;
    }
    await this._while(d.name, () => this.model.undeploy(d.name), true);
  }

  /** Run an action on a deployment with its buttons disabled meanwhile. */
  private async _while(
    name: string,
    action: () => Promise<unknown>,
    sayFailure = false
  ): Promise<void> {
    this._busy = new Set([...this._busy, name]);
    this.update();
    try {
      await action();
    } catch (error) {
      if (sayFailure) {
        void showErrorMessage(
          this._trans.__('Undeploy failed'),
          describe(error)
        );
      }
    } finally {
      const rest = new Set(this._busy);
      rest.delete(name);
      this._busy = rest;
      this.update();
    }
  }

  private _onChanged(): void {
    this.update();
  }

  private readonly _logs: LogsViews;
  private readonly _onMonitor?: (deployment: IDeployment) => void;
  private readonly _trans: TranslationBundle;
  private _busy: ReadonlySet<string> = new Set();
}

export namespace DeployPanel {
  export interface IOptions {
    model: DeployModel;
    logs: LogsViews;
    /** Show a deployment in the Monitor panel (the card's Monitor link). */
    onMonitor?: (deployment: IDeployment) => void;
    trans: TranslationBundle;
  }
}
