import { Widget } from '@lumino/widgets';

import { IPanelContext } from '../panels/context';
import { CommandIDs } from '../tokens';
import { MonitorModel } from './model';
import { MonitorPanel } from './panel';
import { IMonitorDeploymentArgs, MONITOR_DEPLOYMENT_COMMAND } from './tokens';

export { IMonitorDeploymentArgs, MONITOR_DEPLOYMENT_COMMAND } from './tokens';

/**
 * The Monitor panel, shown in the MLOps sidebar under the capability's status: per
 * deployment of the project, its version and device, sparklines of its requests,
 * latency, errors and batch sizes over the last hour, and the latest requests it
 * logged. Also registers `mlops:monitor-deployment` (the Deploy panel's Monitor link).
 */
export function createMonitorPanel(context: IPanelContext): Widget | null {
  const { app, status, rendermime, trans } = context;
  const model = new MonitorModel();
  const follow = (): void => {
    model.folder = status.folder;
    model.refreshInterval = status.refreshInterval;
  };
  follow();
  status.changed.connect(follow);
  status.refreshRequested.connect(() => {
    if (model.active) {
      void model.refresh();
    }
  });
  const panel = new MonitorPanel({ model, rendermime, trans });
  app.commands.addCommand(MONITOR_DEPLOYMENT_COMMAND, {
    label: trans.__('Monitor a deployment'),
    caption: trans.__(
      "Show a deployment's requests, latency and errors in the MLOps sidebar"
    ),
    describedBy: {
      args: {
        type: 'object',
        properties: {
          name: { type: 'string', description: trans.__('The deployment') }
        },
        required: ['name']
      }
    },
    execute: async args => {
      const { name } = args as unknown as IMonitorDeploymentArgs;
      if (typeof name === 'string' && name) {
        model.selected = name;
      }
      await app.commands.execute(CommandIDs.openSidebar, {
        capability: 'monitor'
      });
      // after the sidebar is laid out, bring the panel's top into view
      requestAnimationFrame(() =>
        panel.node.scrollIntoView({ block: 'nearest' })
      );
    }
  });
  return panel;
}
