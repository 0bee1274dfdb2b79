import { Widget } from '@lumino/widgets';

import { IPanelContext } from '../panels/context';
import { PipelineModel } from './model';
import { PipelinePanel } from './panel';

/**
 * The Pipeline panel, shown in the MLOps sidebar under the capability's status: the DAG
 * of the notebook in use, its active cell's step, runs with per-step state and logs, and
 * exports. Without a notebook tracker (no notebook app) there is nothing to show.
 */
export function createPipelinePanel(context: IPanelContext): Widget | null {
  if (!context.notebooks) {
    return null;
  }
  return new PipelinePanel({
    app: context.app,
    model: new PipelineModel(context.notebooks),
    docManager: context.docManager,
    trans: context.trans
  });
}
