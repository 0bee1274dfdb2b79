import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { refreshIcon } from '@jupyterlab/ui-components';

import { mlopsIcon } from './icons';
// the sidebar shows every capability's panel as soon as it is added
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { createPanels } from './panels';
import { MLOpsSidebar } from './sidebar';
import { StatusModel } from './status/model';
import {
  CAPABILITY_IDS,
  CapabilityId,
  COMMAND_CATEGORY,
  CommandIDs,
  PLUGIN_ID,
  SIDEBAR_ID
} from './tokens';
import { FRONTEND_VERSION } from './version';

/**
 * The MLOps sidebar, its commands and its settings.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'The MLOps sidebar: the live health of each capability and its panel, in one collapsible section each.',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    ICommandPalette,
    ISettingRegistry,
    ITranslator,
    ILabShell,
    INotebookTracker,
    IDocumentManager,
    IRenderMimeRegistry,
    IStateDB
  ],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null,
    labShell: ILabShell | null,
    notebooks: INotebookTracker | null,
    docManager: IDocumentManager | null,
    rendermime: IRenderMimeRegistry | null,
    state: IStateDB | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_mlops');
    const model = new StatusModel({ frontendVersion: FRONTEND_VERSION });
    let sidebar: MLOpsSidebar | null = null;

    app.commands.addCommand(CommandIDs.openSidebar, {
      label: trans.__('Open MLOps sidebar'),
      caption: trans.__('Show the MLOps sidebar'),
      icon: mlopsIcon,
      describedBy: {
        args: {
          type: 'object',
          properties: {
            capability: {
              type: 'string',
              enum: [...CAPABILITY_IDS],
              description: trans.__('The section to open')
            }
          }
        }
      },
      execute: args => {
        app.shell.activateById(SIDEBAR_ID);
        const capability = args.capability as CapabilityId | undefined;
        if (sidebar && capability && CAPABILITY_IDS.includes(capability)) {
          sidebar.expand(capability);
        }
      }
    });
    app.commands.addCommand(CommandIDs.refreshStatus, {
      label: trans.__('Refresh MLOps status'),
      caption: trans.__('Check the configuration and every backend again'),
      icon: refreshIcon,
      describedBy: { args: { type: 'object', properties: {} } },
      execute: () => model.refresh()
    });
    if (palette) {
      for (const command of [
        CommandIDs.openSidebar,
        CommandIDs.refreshStatus
      ]) {
        palette.addItem({ command, category: COMMAND_CATEGORY });
      }
    }

    const panels = createPanels({
      app,
      status: model,
      trans,
      labShell,
      notebooks,
      docManager,
      rendermime
    });
    if (palette && app.commands.hasCommand('mlops:deploy-model')) {
      palette.addItem({
        command: 'mlops:deploy-model',
        category: COMMAND_CATEGORY
      });
    }
    sidebar = new MLOpsSidebar({
      model,
      panels,
      commands: app.commands,
      state,
      restored: app.restored,
      trans
    });
    app.shell.add(sidebar, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(sidebar, SIDEBAR_ID);
    }

    // Describe the project of the document in use: its folder decides which
    // mlops.toml applies, exactly as it does for that document's kernel.
    if (labShell) {
      const follow = (): void => {
        const folder = documentFolder(labShell.currentWidget);
        if (folder !== null) {
          model.folder = folder;
        }
      };
      labShell.currentChanged.connect(follow);
      follow();
    }

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = (): void => {
            model.refreshInterval = settings.get('refreshInterval')
              .composite as number;
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => {
          console.error(
            'jupyter-mlops: could not load the settings; the status refreshes every ' +
              `${model.refreshInterval} s.`,
            reason
          );
        });
    }
  }
};

/**
 * The folder, relative to the server root, of the document a widget shows; null
 * for widgets that show no document (the launcher, a terminal, the sidebar itself).
 */
function documentFolder(widget: Widget | null): string | null {
  const context = (widget as { context?: { path?: unknown } } | null)?.context;
  if (context && typeof context.path === 'string') {
    // drive-prefixed paths ("RTC:notebook.ipynb") belong to the same server root
    const local = context.path.replace(/^[^/:]+:/, '');
    return PathExt.dirname(local);
  }
  return null;
}

export default plugin;
