import { ILayoutRestorer } from '@jupyterlab/application';
import {
  ICommandPalette,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import { COMMAND_CATEGORY } from '../tokens';
import { IPanelContext } from '../panels/context';
import { ChangesModel } from './changes';
import { exportReviewHtml } from './export';
import { registerMerge } from './merge/index';
import { reloadFromDisk } from './merge/reload';
import { MergeCommandIDs } from './merge/tokens';
import { ReviewPanel } from './panel';
import { HEAD, ReviewCommandIDs, Revision, WORKING } from './tokens';

import type { ReviewDiffWidget } from './view';

/**
 * The Review panel, shown in the MLOps sidebar under the capability's status, and the
 * `mlops:open-review` command that opens a notebook's diff view in the main area
 * (also from the command palette: "Review notebook changes").
 */
export function createReviewPanel(context: IPanelContext): Widget | null {
  const { app, trans, notebooks } = context;
  const changes = new ChangesModel(context.status, notebooks);
  const opener = new DiffViewOpener(context, () => void changes.refresh());
  // open diff views come back after a reload, with the revisions they compared
  void app.resolveOptionalService(ILayoutRestorer).then(restorer =>
    restorer?.restore(opener.tracker, {
      command: ReviewCommandIDs.openReview,
      args: view => ({
        path: view.model.path,
        base: view.model.base,
        head: view.model.head,
        files: view.model.files
      }),
      name: view => view.key
    })
  );

  app.commands.addCommand(ReviewCommandIDs.openReview, {
    label: args =>
      typeof args.path === 'string'
        ? trans.__('Review changes of %1', args.path)
        : trans.__('Review notebook changes'),
    caption: trans.__(
      'Open the cell-aware diff of the notebook against a git revision, with its review'
    ),
    describedBy: {
      args: {
        type: 'object',
        properties: {
          path: {
            type: 'string',
            description: trans.__(
              'The notebook, relative to the server root (default: the notebook in use)'
            )
          },
          base: {
            type: 'string',
            description: trans.__('The older revision (default: HEAD)')
          },
          head: {
            type: 'string',
            description: trans.__(
              'The newer revision (default: WORKING, the working copy)'
            )
          },
          files: {
            type: 'boolean',
            description: trans.__(
              'Compare the notebook files base and head instead of revisions'
            )
          }
        }
      }
    },
    isEnabled: args =>
      typeof args.path === 'string' || !!notebooks?.currentWidget,
    execute: async args => {
      const path =
        typeof args.path === 'string'
          ? args.path
          : notebooks?.currentWidget?.context.path;
      if (!path) {
        return;
      }
      await opener.open(
        path,
        typeof args.base === 'string' ? args.base : HEAD,
        typeof args.head === 'string' ? args.head : WORKING,
        args.files === true
      );
    }
  });
  registerCompare(context, opener);
  const markers = registerMerge(
    context,
    path => opener.rendermime(path),
    () => void changes.refresh()
  );
  app.contextMenu.addItem({
    command: ReviewCommandIDs.openReview,
    selector: '.jp-Notebook',
    rank: 90
  });
  // the palette is optional for the MLOps plugin, which has already been given it
  void app.resolveOptionalService(ICommandPalette).then(palette =>
    palette?.addItem({
      command: ReviewCommandIDs.openReview,
      category: COMMAND_CATEGORY
    })
  );

  const panel = new ReviewPanel({
    model: changes,
    notebooks,
    open: (path, base, head) =>
      void app.commands.execute(ReviewCommandIDs.openReview, {
        path,
        base: base ?? HEAD,
        head: head ?? WORKING
      }),
    merge: path =>
      void app.commands.execute(MergeCommandIDs.openMerge, { path }),
    exportHtml: (path, base, head) =>
      void exportReviewHtml(path, base, head, trans),
    trans
  });
  panel.disposed.connect(() => markers?.dispose());
  void changes.refresh();
  // fetch the diff view's code in the background once the application is up
  void app.restored.then(() => opener.loadView()).catch(() => undefined);
  return panel;
}

/**
 * "Compare with…" on two notebooks selected in the file browser (and the
 * `mlops:review-compare` command, args `{base?, head?}`): the diff view of the two files,
 * the first in the listing as the base.
 */
function registerCompare(context: IPanelContext, opener: DiffViewOpener): void {
  const { app, trans } = context;
  let browser: IDefaultFileBrowser | null = null;
  void app
    .resolveOptionalService(IDefaultFileBrowser)
    .then(found => (browser = found ?? null));
  const selected = (): string[] => {
    if (!browser) {
      return [];
    }
    const paths: string[] = [];
    for (const item of browser.selectedItems()) {
      paths.push(item.type === 'notebook' ? item.path : '');
    }
    return paths;
  };
  const pair = (args: Record<string, unknown>): [string, string] | null => {
    if (typeof args.base === 'string' && typeof args.head === 'string') {
      return [args.base, args.head];
    }
    const paths = selected();
    return paths.length === 2 && paths.every(path => path.length > 0)
      ? [paths[0], paths[1]]
      : null;
  };
  app.commands.addCommand(ReviewCommandIDs.compareFiles, {
    label: args =>
      typeof args.base === 'string'
        ? trans.__('Compare %1 with %2', args.base, String(args.head))
        : trans.__('Compare with…'),
    caption: trans.__(
      'Open the cell-aware diff of two notebooks (the first as the older one)'
    ),
    describedBy: {
      args: {
        type: 'object',
        properties: {
          base: {
            type: 'string',
            description: trans.__(
              'The older notebook (default: the first selected)'
            )
          },
          head: {
            type: 'string',
            description: trans.__(
              'The newer notebook (default: the second selected)'
            )
          }
        }
      }
    },
    isVisible: args => pair(args) !== null,
    execute: async args => {
      const files = pair(args);
      if (files) {
        await opener.open(files[1], files[0], files[1], true);
      }
    }
  });
  app.contextMenu.addItem({
    command: ReviewCommandIDs.compareFiles,
    selector: '.jp-DirListing-item[data-file-type="notebook"]',
    rank: 4
  });
}

/** Opens diff views: one per notebook and pair of revisions, activated if already open. */
class DiffViewOpener {
  constructor(
    private readonly _context: IPanelContext,
    private readonly _onReviewChanged: () => void
  ) {}

  async open(
    path: string,
    base: Revision,
    head: Revision,
    files = false
  ): Promise<void> {
    const { app, trans } = this._context;
    let ReviewDiffWidget: typeof import('./view').ReviewDiffWidget;
    try {
      ({ ReviewDiffWidget } = await this.loadView());
    } catch (error) {
      Notification.error(
        trans.__(
          'The diff view could not be loaded (%1): reload the page; the extension may have been updated since it was opened.',
          error instanceof Error ? error.message : String(error)
        )
      );
      return;
    }
    const key = ReviewDiffWidget.key(path, base, head, files);
    const existing = this.tracker.find(view => view.key === key);
    if (existing) {
      app.shell.activateById(existing.id);
      return;
    }
    const view = new ReviewDiffWidget({
      path,
      base,
      head,
      files,
      rendermime: await this.rendermime(path),
      trans,
      onReviewChanged: this._onReviewChanged,
      onWorkingCopyChanged: changed => {
        this._showApplied(changed);
        this._onReviewChanged();
      }
    });
    view.model.revisionsChanged.connect(() => void this.tracker.save(view));
    void this.tracker.add(view);
    app.shell.add(view, 'main');
    app.shell.activateById(view.id);
  }

  /**
   * An open notebook without unsaved edits reloads to show the applied suggestion; one
   * with unsaved edits keeps them, and the user is offered to reload it.
   */
  private _showApplied(path: string): void {
    const { docManager, trans } = this._context;
    reloadFromDisk(
      docManager,
      path,
      trans.__(
        'The suggestion was written to %1, but its editor has unsaved changes.',
        path
      ),
      trans
    );
  }

  /**
   * The diff view's module: loaded apart from the sidebar, on first use or once the
   * application has started (whichever comes first).
   */
  loadView(): Promise<typeof import('./view')> {
    if (!this._view) {
      this._view = import('./view').catch(error => {
        this._view = null; // try again next time
        throw error;
      });
    }
    return this._view;
  }

  /** A rendermime whose relative links and images resolve next to the notebook. */
  async rendermime(path: string): Promise<IRenderMimeRegistry> {
    const { RenderMimeRegistry, standardRendererFactories } =
      await import('@jupyterlab/rendermime');
    const resolver = new RenderMimeRegistry.UrlResolver({
      path,
      contents: this._context.app.serviceManager.contents
    });
    if (this._context.rendermime) {
      return this._context.rendermime.clone({ resolver });
    }
    return new RenderMimeRegistry({
      initialFactories: standardRendererFactories,
      resolver
    });
  }

  /** The open diff views (the layout restorer reopens them after a reload). */
  readonly tracker = new WidgetTracker<ReviewDiffWidget>({
    namespace: 'mlops-review'
  });
  private _view: Promise<typeof import('./view')> | null = null;
}
