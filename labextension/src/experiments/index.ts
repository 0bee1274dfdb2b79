import { NotebookActions } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { IPanelContext } from '../panels/context';
import { ExperimentsModel } from './model';
import { ExperimentsPanel } from './panel';
import { DEPLOY_MODEL_COMMAND } from './tokens';

/** Seconds after a `%%mlops sweep` cell starts when the runs are listed again. */
const SWEEP_LOOKS_S = [2, 5, 10];

/**
 * The Experiments panel, shown in the MLOps sidebar under the capability's status:
 * the runs of the open notebook (or the whole experiment), newest first; a run's
 * params, metrics, models (register, deploy) and artifacts; the runs table and the
 * compare view in the main area.
 */
export function createExperimentsPanel(context: IPanelContext): Widget | null {
  const { app, status, notebooks, trans } = context;
  const model = new ExperimentsModel({
    // the Deploy panel's command (registered by the same plugin)
    deployCommand: (uri, folder) =>
      app.commands.execute(DEPLOY_MODEL_COMMAND, { model: uri, folder })
  });
  const follow = (): void => {
    model.folder = status.folder;
    model.refreshInterval = status.refreshInterval;
    // the notebook the user is in (the tracker keeps the last one while another
    // widget, such as a compare view, has the focus)
    model.notebook = notebooks?.currentWidget?.context.path ?? null;
  };
  follow();
  status.changed.connect(follow);
  notebooks?.currentChanged.connect(follow);
  const panel = new ExperimentsPanel({
    app,
    model,
    rendermime: context.rendermime,
    trans
  });
  // the sidebar's refresh button refreshes the runs too
  status.refreshRequested.connect(() => {
    if (panel.list.active) {
      void panel.list.refresh();
    }
  });
  // a cell that just ran may have tracked a run: list it without waiting for the poll
  NotebookActions.executed.connect((_, { notebook }) => {
    if (panel.list.active && notebooks?.currentWidget?.content === notebook) {
      void panel.list.refresh();
    }
  });
  // a sweep's parent run starts soon after its cell does: look for it then; once listed
  // (RUNNING) the listing polls fast until the sweep ends
  NotebookActions.executionScheduled.connect((_, { notebook, cell }) => {
    const source = cell.model.sharedModel.getSource().trimStart();
    if (
      notebooks?.currentWidget?.content === notebook &&
      source.startsWith('%%mlops sweep')
    ) {
      for (const seconds of SWEEP_LOOKS_S) {
        window.setTimeout(() => {
          if (panel.list.active) {
            void panel.list.refresh();
          }
        }, seconds * 1000);
      }
    }
  });
  return panel;
}
