import { JupyterFrontEnd } from '@jupyterlab/application';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { activeWhileVisible } from '../panels/visibility';
import { askExport } from './components/ExportDialog';
import { PipelineView } from './components/PipelineView';
import { openStepLog } from './logs';
import { PipelineModel } from './model';
import { cellIndex, selectCells } from './notebook';
import { IExportResult } from './types';

/**
 * The Pipeline panel of the MLOps sidebar: a view of the `PipelineModel`, drawn again on
 * each change; it tells the model whether it is on screen.
 */
export class PipelinePanel extends ReactWidget {
  constructor(options: PipelinePanel.IOptions) {
    super();
    this._app = options.app;
    this._docManager = options.docManager;
    this._trans = options.trans;
    this._model = options.model;
    this.addClass('jp-mlops-pipeline-panel');
    this._model.changed.connect(this._onChanged, this);
    activeWhileVisible(this, this._model);
  }

  get model(): PipelineModel {
    return this._model;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.changed.disconnect(this._onChanged, this);
    this._model.dispose();
    super.dispose();
  }

  render(): JSX.Element {
    return (
      <PipelineView
        model={this._model}
        form={this._form}
        onForm={form => {
          this._form = form;
          this.update();
        }}
        exportResult={
          this._exportFor === this._model.path ? this._exportResult : null
        }
        exportError={
          this._exportFor === this._model.path ? this._exportError : null
        }
        onExport={() => void this._export()}
        onSelectStep={step => this._selectStep(step)}
        onSelectCell={(id, index) => this._selectCell(id, index)}
        onOpenLog={step => this._openLog(step)}
        onOpenFile={path => this._openFile(path)}
        trans={this._trans}
      />
    );
  }

  private _onChanged(): void {
    this.update();
  }

  private _selectStep(step: string): void {
    const panel = this._model.panel;
    if (!panel) {
      return;
    }
    selectCells(panel, this._model.stepCells(step));
    this._app.shell.activateById(panel.id);
  }

  private _selectCell(id: string | null, index: number | null): void {
    const panel = this._model.panel;
    const at = panel ? cellIndex(panel, id, index) : null;
    if (panel && at !== null) {
      selectCells(panel, [at]);
      this._app.shell.activateById(panel.id);
    }
  }

  private _openLog(step: string): void {
    const run = this._model.run;
    if (run) {
      openStepLog(this._app, this._model.path, run.run_id, step, this._trans);
    }
  }

  private _openFile(path: string): void {
    if (this._docManager) {
      this._docManager.openOrReveal(path);
    } else {
      void this._app.commands.execute('docmanager:open', { path });
    }
  }

  private async _export(): Promise<void> {
    const choice = await askExport(this._model.path, this._trans);
    if (!choice) {
      return;
    }
    this._exportFor = this._model.path;
    this._exportResult = null;
    this._exportError = null;
    this.update();
    try {
      this._exportResult = await this._model.exportTo(
        choice.target,
        choice.outDir,
        choice.schedule
      );
    } catch (error) {
      this._exportError =
        error instanceof Error ? error.message : String(error);
    }
    this.update();
  }

  private readonly _app: JupyterFrontEnd;
  private readonly _docManager: IDocumentManager | null;
  private readonly _trans: TranslationBundle;
  private readonly _model: PipelineModel;
  private _form: 'none' | 'step' | 'run' = 'none';
  /** The notebook the export result below is of. */
  private _exportFor = '';
  private _exportResult: IExportResult | null = null;
  private _exportError: string | null = null;
}

export namespace PipelinePanel {
  export interface IOptions {
    app: JupyterFrontEnd;
    model: PipelineModel;
    docManager: IDocumentManager | null;
    trans: TranslationBundle;
  }
}
