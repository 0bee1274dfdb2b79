import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import {
  ReactWidget,
  refreshIcon,
  tableRowsIcon,
  ToolbarButton
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { IInsertOutcome, ViewDetail } from './components/ViewDetail';
import { insertIntoNotebook } from './insert';

/** The main-area tab showing one feature view of one project. */
class FeatureViewContent extends ReactWidget {
  constructor(
    readonly folder: string,
    readonly viewName: string,
    private readonly _notebooks: INotebookTracker | null,
    private readonly _insert: (snippet: string) => Promise<IInsertOutcome>,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-features-detailView');
    // the Insert code button names the notebook it writes to
    _notebooks?.currentChanged.connect(this._onNotebookChanged, this);
  }

  dispose(): void {
    this._notebooks?.currentChanged.disconnect(this._onNotebookChanged, this);
    super.dispose();
  }

  /** Opened again from the search: fetch it again, at its latest version. */
  reopen(): void {
    this._openKey += 1;
    this.update();
  }

  /** Fetch the version shown again (its statistics and runs too). */
  refresh(): void {
    this._refreshKey += 1;
    this.update();
  }

  render(): JSX.Element {
    return React.createElement(ViewDetail, {
      folder: this.folder,
      name: this.viewName,
      openKey: this._openKey,
      refreshKey: this._refreshKey,
      target: this._notebooks?.currentWidget?.title.label ?? null,
      onInsert: this._insert,
      trans: this._trans
    });
  }

  private _onNotebookChanged(): void {
    this.update();
  }

  private _openKey = 0;
  private _refreshKey = 0;
}

/**
 * Opens feature views in the main area, one tab per view and project, beside the
 * notebook in use so that the code can be inserted with both in sight.
 */
export class FeatureViewOpener {
  constructor(
    private readonly _app: JupyterFrontEnd,
    private readonly _notebooks: INotebookTracker | null,
    private readonly _trans: TranslationBundle
  ) {}

  open(folder: string, name: string): void {
    const key = `${folder}\n${name}`;
    const existing = this._open.get(key);
    if (existing && !existing.isDisposed) {
      existing.content.reopen();
      this._app.shell.activateById(existing.id);
      return;
    }
    const content = new FeatureViewContent(
      folder,
      name,
      this._notebooks,
      snippet => this._insert(snippet),
      this._trans
    );
    const widget = new MainAreaWidget({ content });
    widget.id = `mlops-feature-view-${Private.nextId()}`;
    widget.title.label = name;
    widget.title.caption = this._trans.__('Feature view %1', name);
    widget.title.icon = tableRowsIcon;
    widget.title.closable = true;
    widget.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: this._trans.__(
          'Fetch the view, its statistics and runs again'
        ),
        onClick: () => content.refresh()
      })
    );
    widget.disposed.connect(() => this._open.delete(key));
    this._open.set(key, widget);
    const notebook = this._notebooks?.currentWidget;
    if (notebook && notebook.isAttached) {
      this._app.shell.add(widget, 'main', {
        mode: 'split-right',
        ref: notebook.id
      });
    } else {
      this._app.shell.add(widget, 'main');
    }
    this._app.shell.activateById(widget.id);
  }

  private async _insert(snippet: string): Promise<IInsertOutcome> {
    const trans = this._trans;
    const result = await insertIntoNotebook(
      this._app,
      this._notebooks,
      snippet
    );
    if (!result.ok) {
      return {
        ok: false,
        message:
          result.reason === 'no-notebook'
            ? trans.__(
                'Open a notebook first: the code goes into its active cell.'
              )
            : trans.__('The notebook is still loading: try again in a moment.')
      };
    }
    const file = result.notebook.title.label;
    return {
      ok: true,
      message: result.reused
        ? trans.__('Inserted into cell %1 of %2.', result.cellIndex + 1, file)
        : trans.__(
            'Inserted into a new cell %1 of %2.',
            result.cellIndex + 1,
            file
          )
    };
  }

  private readonly _open = new Map<
    string,
    MainAreaWidget<FeatureViewContent>
  >();
}

namespace Private {
  let id = 0;
  export function nextId(): number {
    return ++id;
  }
}
