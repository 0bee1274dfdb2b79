import { ILayoutRestorer } from '@jupyterlab/application';
import {
  ICommandPalette,
  Notification,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IDisposable } from '@lumino/disposable';

import { COMMAND_CATEGORY } from '../../tokens';
import { IPanelContext } from '../../panels/context';
import { describe } from '../model';
import { ConflictMarkers } from './markers';
import { reloadFromDisk } from './reload';
import { IResolveReply, MergeCommandIDs } from './tokens';

import type { MergeWidget } from './widget';

/**
 * The Merge view of the Review capability: the `mlops:review-merge` command (args
 * `{path?}`, default the notebook in use), and the markers on conflicted cells of open
 * notebooks, which offer it. `onWritten` is told after resolutions were written.
 * Returns the markers (null without a notebook tracker).
 */
export function registerMerge(
  context: IPanelContext,
  rendermime: (path: string) => Promise<IRenderMimeRegistry>,
  onWritten: (path: string) => void
): IDisposable | null {
  const { app, trans, notebooks } = context;
  const tracker = new WidgetTracker<MergeWidget>({ namespace: 'mlops-merge' });
  let module: Promise<typeof import('./widget')> | null = null;
  const load = (): Promise<typeof import('./widget')> => {
    if (!module) {
      module = import('./widget').catch(error => {
        module = null; // try again next time
        throw error;
      });
    }
    return module;
  };

  const written = (reply: IResolveReply): void => {
    reloadFromDisk(
      context.docManager,
      reply.path,
      trans.__(
        'The resolved notebook was written to %1, but its editor has unsaved changes.',
        reply.path
      ),
      trans
    );
    onWritten(reply.path);
  };

  // the resolutions apply to the notebook on disk: an open editor's edits are saved first
  // (they are kept), and the editor shows the resolved file afterwards
  const beforeWrite = async (path: string): Promise<void> => {
    const { docManager } = context;
    const widget = docManager?.findWidget(path);
    const editor = widget ? docManager?.contextForWidget(widget) : undefined;
    if (editor?.model.dirty) {
      await editor.save();
    }
  };

  const open = async (path: string): Promise<void> => {
    const existing = tracker.find(view => view.model.path === path);
    if (existing) {
      void existing.model.load();
      app.shell.activateById(existing.id);
      return;
    }
    let MergeWidget: typeof import('./widget').MergeWidget;
    try {
      ({ MergeWidget } = await load());
    } catch (error) {
      Notification.error(
        trans.__(
          'The Merge view could not be loaded (%1): reload the page.',
          describe(error)
        )
      );
      return;
    }
    const view = new MergeWidget({
      path,
      rendermime: await rendermime(path),
      trans,
      beforeWrite,
      onWritten: written
    });
    void tracker.add(view);
    app.shell.add(view, 'main');
    app.shell.activateById(view.id);
  };

  // open Merge views come back after a reload
  void app.resolveOptionalService(ILayoutRestorer).then(restorer =>
    restorer?.restore(tracker, {
      command: MergeCommandIDs.openMerge,
      args: view => ({ path: view.model.path }),
      name: view => view.model.path
    })
  );

  app.commands.addCommand(MergeCommandIDs.openMerge, {
    label: args =>
      typeof args.path === 'string'
        ? trans.__('Resolve merge conflicts of %1', args.path)
        : trans.__('Resolve notebook merge conflicts'),
    caption: trans.__(
      'Open the Merge view: the conflicts a notebook merge left, cell by cell'
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
      if (path) {
        await open(path);
      }
    }
  });
  void app.resolveOptionalService(ICommandPalette).then(palette =>
    palette?.addItem({
      command: MergeCommandIDs.openMerge,
      category: COMMAND_CATEGORY
    })
  );
  if (!notebooks) {
    return null;
  }
  return new ConflictMarkers(
    notebooks,
    path => void app.commands.execute(MergeCommandIDs.openMerge, { path }),
    trans
  );
}
