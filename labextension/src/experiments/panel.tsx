import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { activeWhileVisible } from '../panels/visibility';
import { RunsSidebar } from './components/RunsSidebar';
import { ExperimentsModel, RunsList } from './model';
import { askRegister } from './register';
import { IRun, IRunModel } from './tokens';
import { CompareView, inMainArea, RunsTableView } from './views';

/** Runs the sidebar lists (the table has them all). */
const SIDEBAR_RUNS = 8;

/**
 * The Experiments panel of the sidebar: the newest runs of the open notebook (or the
 * whole experiment), a run's details, register and deploy, and the buttons that open
 * the table and the compare view in the main area. It polls while visible.
 */
export class ExperimentsPanel extends ReactWidget {
  constructor(options: ExperimentsPanel.IOptions) {
    super();
    this.model = options.model;
    this._app = options.app;
    this._rendermime = options.rendermime;
    this._trans = options.trans;
    this.addClass('jp-mlops-experiments-panel');
    this.list = new RunsList(this.model, { limit: SIDEBAR_RUNS });
    this.list.changed.connect(this._update, this);
    this.model.changed.connect(this._update, this);
    activeWhileVisible(this, this.list);
  }

  readonly model: ExperimentsModel;
  readonly list: RunsList;

  render(): JSX.Element {
    return (
      <RunsSidebar
        list={this.list}
        model={this.model}
        expanded={this._expanded}
        onExpand={id => this._expand(id)}
        onCompare={() => this.openCompare()}
        onOpenTable={() => this.openTable()}
        onRegister={(run, m) => void this._register(run, m)}
        onDeploy={m => void this.model.deploy(m.uri)}
        rendermime={this._rendermime}
        trans={this._trans}
      />
    );
  }

  /** Open (or bring up) the runs table. */
  openTable(): void {
    if (!this._table || this._table.isDisposed) {
      const view = new RunsTableView(
        this.model,
        () => this.openCompare(),
        this._trans
      );
      this._table = inMainArea(
        view,
        'mlops-experiments-table',
        this._trans.__('Runs')
      );
      this._app.shell.add(this._table, 'main');
    }
    this._app.shell.activateById(this._table.id);
  }

  /** Open a compare view of the selected runs. */
  openCompare(): CompareView | null {
    const ids = [...this.model.selected];
    if (ids.length < 2) {
      return null;
    }
    const view = new CompareView({
      folder: this.model.projectFolder,
      runIds: ids,
      rendermime: this._rendermime,
      trans: this._trans
    });
    const widget = inMainArea(
      view,
      `mlops-experiments-compare-${++this._compares}`,
      this._trans.__('Compare %1 runs', ids.length)
    );
    this._app.shell.add(widget, 'main');
    this._app.shell.activateById(widget.id);
    return view;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this._update, this);
    this.list.dispose();
    super.dispose();
  }

  private _expand(runId: string): void {
    const next = new Set(this._expanded);
    if (next.has(runId)) {
      next.delete(runId);
    } else {
      next.add(runId);
    }
    this._expanded = next;
    this.update();
  }

  private async _register(run: IRun, model: IRunModel): Promise<void> {
    const done = await askRegister({
      run,
      model: run.models.length > 1 ? model : undefined,
      folder: this.model.projectFolder,
      trans: this._trans
    });
    if (done) {
      void this.list.refresh();
    }
  }

  private _update(): void {
    this.update();
  }

  private readonly _app: JupyterFrontEnd;
  private readonly _rendermime: IRenderMimeRegistry | null;
  private readonly _trans: TranslationBundle;
  private _expanded: ReadonlySet<string> = new Set();
  private _table: MainAreaWidget | null = null;
  private _compares = 0;
}

export namespace ExperimentsPanel {
  export interface IOptions {
    app: JupyterFrontEnd;
    model: ExperimentsModel;
    rendermime: IRenderMimeRegistry | null;
    trans: TranslationBundle;
  }
}
