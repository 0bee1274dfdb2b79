import { MainAreaWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { JSONObject } from '@lumino/coreutils';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';
import * as React from 'react';

import { fetchComparison } from './api';
import { CompareTables } from './components/CompareTables';
import { RunsTable } from './components/RunsTable';
import { describe, ExperimentsModel, RunsList } from './model';

export const VEGA_LITE = 'application/vnd.vegalite.v5+json';
const TABLE_PAGE = 25;

/** The runs table in the main area; it polls while it is shown. */
export class RunsTableView extends ReactWidget {
  constructor(
    private readonly _model: ExperimentsModel,
    private readonly _onCompare: () => void,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-experiments-main');
    this.list = new RunsList(_model, { limit: TABLE_PAGE });
    this.list.changed.connect(this._update, this);
    _model.changed.connect(this._update, this);
  }

  readonly list: RunsList;

  render(): JSX.Element {
    return (
      <RunsTable
        list={this.list}
        model={this._model}
        onCompare={this._onCompare}
        trans={this._trans}
      />
    );
  }

  dispose(): void {
    this._model.changed.disconnect(this._update, this);
    this.list.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.list.active = true;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.list.active = this.isVisible;
  }

  protected onBeforeHide(msg: Message): void {
    super.onBeforeHide(msg);
    this.list.active = false;
  }

  protected onBeforeDetach(msg: Message): void {
    this.list.active = false;
    super.onBeforeDetach(msg);
  }

  private _update(): void {
    this.update();
  }
}

/**
 * The compare view of some runs: parameter differences, latest metrics, and each
 * metric's history per run as a Vega-Lite chart rendered by JupyterLab's rendermime.
 */
export class CompareView extends Panel {
  constructor(options: {
    folder: string;
    runIds: string[];
    rendermime: IRenderMimeRegistry | null;
    trans: TranslationBundle;
  }) {
    super();
    this.addClass('jp-mlops-experiments-main');
    this.addClass('jp-mlops-experiments-compare');
    this._rendermime = options.rendermime;
    this._trans = options.trans;
    this._say(this._trans.__('Comparing %1 runs…', options.runIds.length));
    void this._load(options.folder, options.runIds);
  }

  /** Settles when the view shows the comparison (or why it cannot). */
  get ready(): Promise<void> {
    return this._ready;
  }

  private async _load(folder: string, runIds: string[]): Promise<void> {
    const trans = this._trans;
    let comparison;
    try {
      comparison = await fetchComparison(folder, runIds);
    } catch (error) {
      this._say(describe(error), true);
      this._resolve();
      return;
    }
    this._clear();
    this.addWidget(
      ReactWidget.create(
        <CompareTables comparison={comparison} trans={trans} />
      )
    );
    const values = (comparison.spec.data as { values?: unknown[] } | undefined)
      ?.values;
    const chart = new Panel();
    chart.addClass('jp-mlops-experiments-chart');
    this.addWidget(chart);
    const bundle = { [VEGA_LITE]: comparison.spec as JSONObject };
    if (!values || values.length === 0) {
      chart.addWidget(this._note(trans.__('No metric history to plot.')));
    } else if (
      this._rendermime &&
      this._rendermime.preferredMimeType(bundle, 'any') === VEGA_LITE
    ) {
      const renderer = this._rendermime.createRenderer(VEGA_LITE);
      chart.addWidget(renderer);
      try {
        await renderer.renderModel(new MimeModel({ data: bundle }));
      } catch (error) {
        chart.addWidget(this._note(describe(error), true));
      }
    } else {
      chart.addWidget(
        this._note(
          trans.__(
            'This JupyterLab has no Vega-Lite renderer: the histories are in the tables above and in %mlops compare.'
          )
        )
      );
    }
    this._resolve();
  }

  private _note(text: string, error = false): Widget {
    const node = document.createElement('p');
    node.className = error
      ? 'jp-mlops-experiments-error'
      : 'jp-mlops-experiments-muted';
    node.textContent = text;
    return new Widget({ node });
  }

  private _say(text: string, error = false): void {
    this._clear();
    this.addWidget(this._note(text, error));
  }

  private _clear(): void {
    for (const child of [...this.widgets]) {
      child.dispose();
    }
  }

  private readonly _rendermime: IRenderMimeRegistry | null;
  private readonly _trans: TranslationBundle;
  private _resolve: () => void = () => undefined;
  private readonly _ready = new Promise<void>(resolve => {
    this._resolve = resolve;
  });
}

/** A main-area widget around a view, with the Experiments title. */
export function inMainArea(
  content: Widget,
  id: string,
  label: string
): MainAreaWidget {
  const widget = new MainAreaWidget({ content });
  widget.id = id;
  widget.title.label = label;
  widget.title.closable = true;
  return widget;
}
