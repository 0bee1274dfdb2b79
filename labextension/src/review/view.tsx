import { MainAreaWidget } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import {
  downloadIcon,
  ReactWidget,
  ToolbarButton
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { DiffView } from './components/DiffView';
import { exportReviewHtml } from './export';
import { ReviewDiffModel } from './model';
import { Revision } from './tokens';

let nextViewId = 0;

/** The React content of a diff view, rendered again whenever its model changes. */
class ReviewDiffContent extends ReactWidget {
  constructor(
    readonly model: ReviewDiffModel,
    private readonly _rendermime: IRenderMimeRegistry,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-review-content');
    model.changed.connect(this._onChanged, this);
  }

  render(): JSX.Element {
    return (
      <DiffView
        model={this.model}
        rendermime={this._rendermime}
        scrollRoot={this.node}
        trans={this._trans}
      />
    );
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this._onChanged, this);
    this.model.dispose();
    super.dispose();
  }

  private _onChanged(): void {
    this.update();
  }
}

/** A main-area view of one notebook's diff between two revisions, with its review. */
export class ReviewDiffWidget extends MainAreaWidget<ReviewDiffContent> {
  constructor(options: ReviewDiffWidget.IOptions) {
    const model = new ReviewDiffModel({
      path: options.path,
      base: options.base,
      head: options.head,
      files: options.files,
      onReviewChanged: options.onReviewChanged,
      onWorkingCopyChanged: options.onWorkingCopyChanged
    });
    const content = new ReviewDiffContent(
      model,
      options.rendermime,
      options.trans
    );
    super({ content });
    this._trans = options.trans;
    this.addClass('jp-mlops-review-widget');
    this.id = `mlops-review-${nextViewId++}`;
    this.title.closable = true;
    if (model.files) {
      this.node.dataset.compare = 'files';
    } else {
      this.toolbar.addItem('export-html', this._exportButton());
    }
    this._onRevisions();
    model.revisionsChanged.connect(this._onRevisions, this);
    void model.load();
  }

  get model(): ReviewDiffModel {
    return this.content.model;
  }

  /** The key of what this view compares: one view per notebook and revisions. */
  get key(): string {
    return ReviewDiffWidget.key(
      this.model.path,
      this.model.base,
      this.model.head,
      this.model.files
    );
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.revisionsChanged.disconnect(this._onRevisions, this);
    super.dispose();
  }

  /** Download the diff with its review as one static HTML file anyone can read. */
  private _exportButton(): ToolbarButton {
    const trans = this._trans;
    return new ToolbarButton({
      className: 'jp-mlops-review-export',
      icon: downloadIcon,
      label: trans.__('Export HTML'),
      tooltip: trans.__(
        'Download this diff with its threads and verdicts as one HTML file, readable without Jupyter'
      ),
      onClick: () => {
        const { path, base, head } = this.model;
        void exportReviewHtml(path, base, head, trans);
      }
    });
  }

  private _onRevisions(): void {
    const { path, base, head } = this.model;
    if (this.model.files) {
      this.title.label = this._trans.__(
        'Compare: %1 ↔ %2',
        PathExt.basename(base),
        PathExt.basename(head)
      );
      this.title.caption = this._trans.__('%1 → %2', base, head);
    } else {
      this.title.label = this._trans.__('Review: %1', PathExt.basename(path));
      this.title.caption = this._trans.__('%1: %2 → %3', path, base, head);
    }
    this.node.dataset.path = path;
    this.node.dataset.base = base;
    this.node.dataset.head = head;
  }

  private readonly _trans: TranslationBundle;
}

export namespace ReviewDiffWidget {
  export interface IOptions {
    path: string;
    base: Revision;
    head: Revision;
    /** Compare the notebook files `base` and `head` (`path`: `head`), without a review. */
    files?: boolean;
    rendermime: IRenderMimeRegistry;
    trans: TranslationBundle;
    onReviewChanged?: (path: string) => void;
    onWorkingCopyChanged?: (path: string) => void;
  }

  export function key(
    path: string,
    base: Revision,
    head: Revision,
    files = false
  ): string {
    return JSON.stringify(
      files ? [path, base, head, 'files'] : [path, base, head]
    );
  }
}
