import { JupyterFrontEnd, ILabShell } from '@jupyterlab/application';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { StatusModel } from '../status/model';

/**
 * What a capability's panel is given: the application (commands, shell), the live
 * status model (whose `folder` is the folder of the document in use, relative to the
 * server root), and the optional JupyterLab services it may use.
 *
 * Each capability lives in its own folder (`src/<capability>/`) and exports a
 * factory `(context) => Widget`; the sidebar shows that widget under the
 * capability's status section. Main-area views (a diff, a compare view) are
 * opened by the panel itself through `app.shell.add(widget, 'main')`.
 */
export interface IPanelContext {
  app: JupyterFrontEnd;
  status: StatusModel;
  trans: TranslationBundle;
  labShell: ILabShell | null;
  notebooks: INotebookTracker | null;
  docManager: IDocumentManager | null;
  rendermime: IRenderMimeRegistry | null;
}

/** Makes a capability's sidebar panel. */
export type PanelFactory = (context: IPanelContext) => Widget;
