import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { refreshIcon, ToolbarButton } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { fetchStepLog } from './api';

/** The open log views, by run and step, so a second click shows the same tab. */
const open = new Map<string, MainAreaWidget<Widget>>();

/** Opens a step's whole log (up to 1 MB, the end kept) in the main area. */
export function openStepLog(
  app: JupyterFrontEnd,
  notebook: string,
  runId: string,
  step: string,
  trans: TranslationBundle
): void {
  const key = `${notebook}\n${runId}\n${step}`;
  const existing = open.get(key);
  if (existing && !existing.isDisposed) {
    app.shell.activateById(existing.id);
    void load(existing.content.node, notebook, runId, step);
    return;
  }
  const content = new Widget({ node: document.createElement('pre') });
  content.addClass('jp-mlops-pipeline-logview');
  const widget = new MainAreaWidget({ content });
  widget.id = `mlops-pipeline-log-${runId}-${step}`;
  widget.title.label = trans.__('%1 log', step);
  widget.title.caption = trans.__('Log of step %1, run %2', step, runId);
  widget.title.closable = true;
  widget.toolbar.addItem(
    'refresh',
    new ToolbarButton({
      icon: refreshIcon,
      tooltip: trans.__('Fetch the log again'),
      onClick: () => void load(content.node, notebook, runId, step)
    })
  );
  open.set(key, widget);
  widget.disposed.connect(() => open.delete(key));
  app.shell.add(widget, 'main');
  app.shell.activateById(widget.id);
  void load(content.node, notebook, runId, step);
}

async function load(
  node: HTMLElement,
  notebook: string,
  runId: string,
  step: string
): Promise<void> {
  try {
    const log = await fetchStepLog(notebook, runId, step);
    node.textContent = log.text;
    node.dataset.state = 'loaded';
  } catch (error) {
    node.textContent = error instanceof Error ? error.message : String(error);
    node.dataset.state = 'error';
  }
}
