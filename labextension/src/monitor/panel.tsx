import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { activeWhileVisible } from '../panels/visibility';
import { MonitorView } from './components/MonitorView';
import { MonitorModel } from './model';

/**
 * The Monitor panel of the sidebar. It polls the chosen deployment while it is
 * visible and follows the project of the document in use.
 */
export class MonitorPanel extends ReactWidget {
  constructor(options: MonitorPanel.IOptions) {
    super();
    this.model = options.model;
    this._rendermime = options.rendermime;
    this._trans = options.trans;
    this.addClass('jp-mlops-monitor-panel');
    this.model.changed.connect(this._onChanged, this);
    activeWhileVisible(this, this.model);
  }

  readonly model: MonitorModel;

  render(): JSX.Element {
    return (
      <MonitorView
        model={this.model}
        rendermime={this._rendermime}
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

  private _onChanged(): void {
    this.update();
  }

  private readonly _rendermime: IRenderMimeRegistry | null;
  private readonly _trans: TranslationBundle;
}

export namespace MonitorPanel {
  export interface IOptions {
    model: MonitorModel;
    rendermime: IRenderMimeRegistry | null;
    trans: TranslationBundle;
  }
}
