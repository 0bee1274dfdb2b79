import { MainAreaWidget, ReactWidget } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { refreshIcon, ToolbarButton } from '@jupyterlab/ui-components';
import * as React from 'react';

import { formatClock } from '../components/format';
import { deployAPI } from './api';
import { describe } from './model';
import { IDeploymentLogs } from './tokens';

const LINES = 500;

/** The sections of one deployment's logs (serving process, each live version). */
class LogsContent extends ReactWidget {
  constructor(
    readonly folder: string,
    readonly name: string,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-deploy-logs');
  }

  /** Fetch the last lines again. */
  async refresh(): Promise<void> {
    this._loading = true;
    this.update();
    try {
      this._logs = await deployAPI.logs(this.folder, this.name, LINES);
      this._error = null;
      this._fetched = new Date();
    } catch (error) {
      this._error = describe(error);
    } finally {
      this._loading = false;
      this.update();
    }
  }

  render(): JSX.Element {
    const trans = this._trans;
    const sections = Object.entries(this._logs?.sections ?? {});
    return (
      <div className="jp-mlops-deploy-logs-body">
        <p className="jp-mlops-deploy-muted">
          {this._loading
            ? trans.__('Loading…')
            : this._fetched
              ? trans.__(
                  'Last %1 lines of each log, fetched at %2.',
                  String(LINES),
                  formatClock(this._fetched)
                )
              : ''}
        </p>
        {this._error && (
          <div className="jp-mlops-deploy-error" role="alert">
            {this._error}
          </div>
        )}
        {sections.map(([title, lines]) => (
          <details key={title} open data-log-section={title}>
            <summary>{title}</summary>
            <pre>{lines.length ? lines.join('\n') : trans.__('(empty)')}</pre>
          </details>
        ))}
      </div>
    );
  }

  private _logs: IDeploymentLogs | null = null;
  private _error: string | null = null;
  private _fetched: Date | null = null;
  private _loading = false;
}

/**
 * Opens (or brings back) the main-area view of a deployment's logs, with a refresh
 * button in its toolbar.
 */
export class LogsViews {
  constructor(
    private readonly _add: (widget: MainAreaWidget) => void,
    private readonly _trans: TranslationBundle
  ) {}

  open(folder: string, name: string): MainAreaWidget<LogsContent> {
    const key = `${folder}\n${name}`;
    let view = this._views.get(key);
    if (!view || view.isDisposed) {
      const content = new LogsContent(folder, name, this._trans);
      view = new MainAreaWidget({ content });
      view.id = `mlops-deploy-logs-${name}-${this._views.size}`;
      view.addClass('jp-mlops-deploy-logs-view');
      view.title.label = this._trans.__('Logs: %1', name);
      view.title.caption = this._trans.__('Logs of the deployment %1', name);
      view.title.closable = true;
      view.toolbar.addItem(
        'refresh',
        new ToolbarButton({
          icon: refreshIcon,
          label: this._trans.__('Refresh'),
          tooltip: this._trans.__('Fetch the logs again'),
          onClick: () => void content.refresh()
        })
      );
      this._views.set(key, view);
      this._add(view);
    }
    void view.content.refresh();
    return view;
  }

  private readonly _views = new Map<string, MainAreaWidget<LogsContent>>();
}
