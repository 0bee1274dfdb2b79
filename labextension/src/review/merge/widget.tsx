import { MainAreaWidget } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { MergeModel } from './model';
import { MergeView } from './MergeView';

let nextMergeId = 0;

/** The React content of a Merge view, rendered again whenever its model changes. */
class MergeContent extends ReactWidget {
  constructor(
    readonly model: MergeModel,
    private readonly _rendermime: IRenderMimeRegistry,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-merge-content');
    model.changed.connect(this._onChanged, this);
  }

  render(): JSX.Element {
    return (
      <MergeView
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
    this.model.dispose();
    super.dispose();
  }

  private _onChanged(): void {
    this.update();
  }
}

/** A main-area view that resolves the merge conflicts of one notebook. */
export class MergeWidget extends MainAreaWidget<MergeContent> {
  constructor(options: MergeWidget.IOptions) {
    const model = new MergeModel(options.path, options);
    super({
      content: new MergeContent(model, options.rendermime, options.trans)
    });
    this.addClass('jp-mlops-merge-widget');
    this.id = `mlops-merge-${nextMergeId++}`;
    this.title.label = options.trans.__(
      'Merge: %1',
      PathExt.basename(options.path)
    );
    this.title.caption = options.trans.__(
      'Resolve the merge conflicts of %1',
      options.path
    );
    this.title.closable = true;
    this.node.dataset.path = options.path;
    void model.load();
  }

  get model(): MergeModel {
    return this.content.model;
  }
}

export namespace MergeWidget {
  export interface IOptions extends MergeModel.IHooks {
    path: string;
    rendermime: IRenderMimeRegistry;
    trans: TranslationBundle;
  }
}
