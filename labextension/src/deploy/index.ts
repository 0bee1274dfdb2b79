import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IPanelContext } from '../panels/context';
import { CommandIDs } from '../tokens';
import { addDeployCommand } from './commands';
import { LogsViews } from './logs';
import { DeployModel } from './model';
import { DeployPanel } from './panel';
import { MONITOR_DEPLOYMENT_COMMAND } from './tokens';

export { DEPLOY_MODEL_COMMAND, IDeployModelArgs } from './tokens';

/**
 * The Deploy panel, shown in the MLOps sidebar under the capability's status: the
 * project's deployments and targets, live deploys, logs, rollback, undeploy, "try it"
 * and a form to deploy a model; each deployment links to the Monitor panel. Also
 * registers `mlops:deploy-model`.
 */
export function createDeployPanel(context: IPanelContext): Widget | null {
  const { app, status, trans } = context;
  const model = new DeployModel();
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
  const logs = new LogsViews(
    (view: MainAreaWidget) => app.shell.add(view, 'main'),
    trans
  );
  const panel = new DeployPanel({
    model,
    logs,
    // the Monitor panel's command (registered by the same plugin)
    onMonitor: d =>
      void app.commands.execute(MONITOR_DEPLOYMENT_COMMAND, { name: d.name }),
    trans
  });
  addDeployCommand({
    app,
    model,
    folder: () => status.folder,
    reveal: () => {
      void app.commands.execute(CommandIDs.openSidebar, {
        capability: 'deploy'
      });
      // after the sidebar is laid out, bring the Deploy panel's newest task into view
      requestAnimationFrame(() => {
        const task = panel.node.querySelector('.jp-mlops-deploy-task');
        (task ?? panel.node).scrollIntoView({ block: 'nearest' });
      });
    },
    trans
  });
  return panel;
}
