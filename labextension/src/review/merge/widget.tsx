import { MainAreaWidget } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import { MergeModel } from './model';
import { MergeView } from './MergeView';

let nextMergeId = 0;

/** A main-area view that resolves the merge conflicts of one notebook. */
export class MergeWidget extends MainAreaWidget<ReactWidget> {
  constructor(options: MergeWidget.IOptions) {
    const model = new MergeModel(options.path, options);
    // rendered again whenever the model changes
    const content = ReactWidget.create(
      <UseSignal signal={model.changed}>
        {() => (
          <MergeView
            model={model}
            rendermime={options.rendermime}
            trans={options.trans}
          />
        )}
      </UseSignal>
    );
    content.addClass('jp-mlops-review-content');
    super({ content });
    this.model = model;
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

  readonly model: MergeModel;

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    super.dispose();
    this.model.dispose();
  }
}

export namespace MergeWidget {
  export interface IOptions extends MergeModel.IHooks {
    path: string;
    rendermime: IRenderMimeRegistry;
    trans: TranslationBundle;
  }
}
