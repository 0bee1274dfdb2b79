import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { StatusModel } from '../status/model';
import { FeatureSearch } from './components/FeatureSearch';
import { IViewSummary } from './tokens';

/**
 * The Features panel in the sidebar: search and filters over the feature views
 * of the project of the document in use. It fetches again when the sidebar's
 * status does (each refresh, and when another project's document comes forward).
 */
export class FeaturesPanel extends ReactWidget {
  constructor(
    private readonly _status: StatusModel,
    private readonly _onOpen: (folder: string, view: IViewSummary) => void,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-features-panel');
    _status.changed.connect(this._onStatusChanged, this);
  }

  dispose(): void {
    this._status.changed.disconnect(this._onStatusChanged, this);
    super.dispose();
  }

  render(): JSX.Element {
    const folder = this._status.folder;
    return React.createElement(FeatureSearch, {
      folder,
      refreshKey: this._refreshKey,
      onOpen: view => this._onOpen(folder, view),
      trans: this._trans
    });
  }

  private _onStatusChanged(): void {
    const updated = this._status.lastUpdated?.getTime() ?? 0;
    if (this._status.folder !== this._folder || updated !== this._updated) {
      this._folder = this._status.folder;
      this._updated = updated;
      this._refreshKey += 1;
      this.update();
    }
  }

  private _folder = '';
  private _updated = 0;
  private _refreshKey = 0;
}
