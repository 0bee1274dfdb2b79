import { TranslationBundle } from '@jupyterlab/translation';
import {
  CommandToolbarButton,
  ReactWidget,
  refreshIcon,
  SidePanel,
  Toolbar
} from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { Message } from '@lumino/messaging';
import { Panel, PanelLayout, Widget } from '@lumino/widgets';
import * as React from 'react';

import { CapabilitySection } from './components/CapabilitySection';
import { StatusBanners } from './components/StatusBanner';
import { StatusFooter } from './components/StatusFooter';
import { mlopsIcon } from './icons';
import { StatusModel } from './status/model';
import { CAPABILITY_IDS, CapabilityId, CommandIDs, SIDEBAR_ID } from './tokens';

/** A React view of the status model, rendered again whenever the model changes. */
class StatusView extends ReactWidget {
  constructor(
    private readonly _model: StatusModel,
    private readonly _render: (model: StatusModel) => JSX.Element | null
  ) {
    super();
    _model.changed.connect(this._onChanged, this);
  }

  render(): JSX.Element | null {
    return this._render(this._model);
  }

  dispose(): void {
    this._model.changed.disconnect(this._onChanged, this);
    super.dispose();
  }

  private _onChanged(): void {
    this.update();
  }
}

/**
 * The MLOps sidebar: a header, a toolbar with the refresh button, plain-language
 * banners, one section per capability (scrolling together, each as tall as its
 * content), and a footer with the resolved configuration. It tells the model when
 * it is visible, so polling stops while it is hidden.
 */
export class MLOpsSidebar extends SidePanel {
  constructor(options: MLOpsSidebar.IOptions) {
    super({ content: new Panel() });
    const model = (this._model = options.model);
    const trans = options.trans;
    this.id = SIDEBAR_ID;
    this.addClass('jp-mlops-sidebar');
    this.title.icon = mlopsIcon;
    this.title.caption = trans.__('MLOps');

    const heading = document.createElement('h2');
    heading.textContent = trans.__('MLOps');
    heading.className = 'jp-text-truncated';
    this.header.addWidget(new Widget({ node: heading }));

    this.toolbar.addItem('spacer', Toolbar.createSpacerItem());
    this.toolbar.addItem(
      'refresh',
      new CommandToolbarButton({
        commands: options.commands,
        id: CommandIDs.refreshStatus,
        icon: refreshIcon,
        label: ''
      })
    );

    const banners = new StatusView(model, m =>
      React.createElement(StatusBanners, { problems: m.problems, trans })
    );
    banners.addClass('jp-mlops-banners');
    const layout = this.layout as PanelLayout;
    layout.insertWidget(layout.widgets.indexOf(this.content), banners);

    this.content.addClass('jp-mlops-sections');
    for (const id of CAPABILITY_IDS) {
      const section = new StatusView(model, m => renderSection(m, id, trans));
      section.addClass('jp-mlops-sectionView');
      section.id = `mlops-section-${id}`;
      this.addWidget(section);
      // the capability's own panel, under its status
      const panel = options.panels?.[id];
      if (panel) {
        panel.id = panel.id || `mlops-panel-${id}`;
        this.addWidget(panel);
      }
    }

    const footer = new StatusView(model, m =>
      React.createElement(StatusFooter, {
        config: m.reply?.config ?? null,
        lastUpdated: m.lastUpdated,
        elapsedMs: m.reply?.elapsed_ms ?? null,
        isLoading: m.isLoading,
        frontendVersion: m.frontendVersion,
        trans
      })
    );
    footer.addClass('jp-mlops-footerView');
    layout.addWidget(footer);

    model.changed.connect(this._onModelChanged, this);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.changed.disconnect(this._onModelChanged, this);
    this._model.active = false;
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._model.active = this.isVisible;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.active = true;
  }

  protected onBeforeHide(msg: Message): void {
    super.onBeforeHide(msg);
    this._model.active = false;
  }

  protected onBeforeDetach(msg: Message): void {
    this._model.active = false;
    super.onBeforeDetach(msg);
  }

  private _onModelChanged(): void {
    this.toggleClass('jp-mlops-mod-loading', this._model.isLoading);
  }

  private readonly _model: StatusModel;
}

export namespace MLOpsSidebar {
  export interface IOptions {
    model: StatusModel;
    /** Each capability's panel, shown under its status section. */
    panels?: Partial<Record<CapabilityId, Widget>>;
    /** Where the refresh command is registered. */
    commands: CommandRegistry;
    trans: TranslationBundle;
  }
}

/** A section's title (the server sends the same, in English). */
function capabilityTitle(id: CapabilityId, trans: TranslationBundle): string {
  switch (id) {
    case 'features':
      return trans.__('Features');
    case 'experiments':
      return trans.__('Experiments');
    case 'pipeline':
      return trans.__('Pipeline');
    case 'review':
      return trans.__('Review');
    case 'deploy':
      return trans.__('Deploy');
  }
}

function renderSection(
  model: StatusModel,
  id: CapabilityId,
  trans: TranslationBundle
): JSX.Element {
  let placeholder = trans.__('Checking…');
  if (model.reply?.config_error) {
    placeholder = trans.__(
      'Not checked: fix the configuration error above first.'
    );
  } else if (model.failure) {
    placeholder = trans.__(
      'Unknown: the status could not be fetched (see above).'
    );
  }
  return React.createElement(CapabilitySection, {
    id,
    title: capabilityTitle(id, trans),
    state: model.sectionState(id),
    capability: model.capability(id),
    placeholder,
    stale: model.failure !== null && model.reply !== null,
    trans
  });
}
