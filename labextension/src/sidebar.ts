import { TranslationBundle } from '@jupyterlab/translation';
import {
  CommandToolbarButton,
  refreshIcon,
  SidePanel,
  Toolbar
} from '@jupyterlab/ui-components';
import { IStateDB } from '@jupyterlab/statedb';
import { CommandRegistry } from '@lumino/commands';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { AccordionPanel, PanelLayout, Widget } from '@lumino/widgets';
import * as React from 'react';

import { StatusBanners } from './components/StatusBanner';
import { StatusFooter } from './components/StatusFooter';
import { mlopsIcon } from './icons';
import { activeWhileVisible } from './panels/visibility';
import { CapabilitySection, SectionTitleRenderer, StatusView } from './section';
import { StatusModel } from './status/model';
import {
  CAPABILITIES,
  CapabilityId,
  CommandIDs,
  PLUGIN_ID,
  SIDEBAR_ID
} from './tokens';

/** What the sidebar remembers across reloads: which sections are open, and their sizes. */
interface ISectionLayout extends ReadonlyPartialJSONObject {
  expanded: Partial<Record<CapabilityId, boolean>>;
  sizes: Partial<Record<CapabilityId, number>>;
}

/**
 * The MLOps sidebar: a header, a toolbar with the refresh button, plain-language
 * banners, one collapsible section per capability, and a footer with the resolved
 * configuration. It tells the model when it is visible, so polling stops while it is
 * hidden.
 *
 * The sections are a Lumino `AccordionPanel` (JupyterLab's `SidePanel` default, as in
 * the debugger's sidebar) rather than a sidebar tab per capability: every title bar
 * stays in sight, so each capability and its health (a dot and one line) is one click
 * away without scrolling and without leaving the others; open sections share the height
 * and scroll on their own; which are open and how tall is remembered (IStateDB).
 */
export class MLOpsSidebar extends SidePanel {
  constructor(options: MLOpsSidebar.IOptions) {
    super({ renderer: new SectionTitleRenderer(options.trans) });
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
    for (const { id, title } of CAPABILITIES) {
      const panel = options.panels?.[id];
      if (panel) {
        panel.id = panel.id || `mlops-panel-${id}`;
      }
      this.addWidget(
        new CapabilitySection({
          capability: id,
          title: title(trans),
          model,
          panel,
          trans
        })
      );
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

    // the banners and the footer grow and shrink with what they say; the sections
    // share what is left, laid out again whenever that height changes
    this._resize = new ResizeObserver(() => this.content.update());
    this._resize.observe(this.content.node);

    model.changed.connect(this._onModelChanged, this);
    activeWhileVisible(this, model);
    if (options.state) {
      void this._remember(options.state, options.restored);
    }
  }

  /** The sections, in the order of `CAPABILITIES`. */
  get sections(): readonly CapabilitySection[] {
    return this.widgets as readonly CapabilitySection[];
  }

  /** Open (expand) a capability's section; it stays as it is when already open. */
  expand(capability: CapabilityId): void {
    const index = this.sections.findIndex(s => s.capability === capability);
    this._accordion.expand(index);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.changed.disconnect(this._onModelChanged, this);
    this._resize.disconnect();
    super.dispose();
  }

  private get _accordion(): AccordionPanel {
    return this.content as AccordionPanel;
  }

  /**
   * Restore the sections as they were (once the application has restored its own
   * layout, so this comes last), then save them whenever one is opened, closed or
   * resized.
   */
  private async _remember(
    state: IStateDB,
    restored: Promise<unknown>
  ): Promise<void> {
    await restored;
    try {
      const saved = (await state.fetch(LAYOUT_KEY)) as
        ISectionLayout | undefined;
      if (saved) {
        this._applyLayout(saved);
      }
    } catch (reason) {
      console.warn(
        'jupyter-mlops: the sidebar layout could not be read',
        reason
      );
    }
    const save = (): void => {
      void state
        .save(LAYOUT_KEY, this._currentLayout())
        .catch(reason =>
          console.warn(
            'jupyter-mlops: the sidebar layout was not saved',
            reason
          )
        );
    };
    this._accordion.expansionToggled.connect(save);
    this._accordion.handleMoved.connect(save);
  }

  private _currentLayout(): ISectionLayout {
    const sizes = this._accordion.relativeSizes();
    const layout: ISectionLayout = { expanded: {}, sizes: {} };
    this.sections.forEach((section, i) => {
      layout.expanded[section.capability] = !section.isHidden;
      layout.sizes[section.capability] = sizes[i];
    });
    return layout;
  }

  private _applyLayout(saved: ISectionLayout): void {
    const accordion = this._accordion;
    this.sections.forEach((section, i) => {
      const open = saved.expanded?.[section.capability];
      if (open === true) {
        accordion.expand(i);
      } else if (open === false) {
        accordion.collapse(i);
      }
    });
    const sizes = this.sections.map(s => saved.sizes?.[s.capability]);
    if (sizes.every(size => typeof size === 'number')) {
      accordion.setRelativeSizes(sizes as number[]);
    }
  }

  private _onModelChanged(): void {
    this.toggleClass('jp-mlops-mod-loading', this._model.isLoading);
  }

  private readonly _model: StatusModel;
  private readonly _resize: ResizeObserver;
}

export namespace MLOpsSidebar {
  export interface IOptions {
    model: StatusModel;
    /** Each capability's panel, shown in its section under its health. */
    panels?: Partial<Record<CapabilityId, Widget>>;
    /** Where the refresh command is registered. */
    commands: CommandRegistry;
    /** Where the sections' layout is remembered; null: not remembered. */
    state?: IStateDB | null;
    /** Settles once the application has restored its layout. */
    restored: Promise<unknown>;
    trans: TranslationBundle;
  }
}

/** The state database key of the sections' layout. */
const LAYOUT_KEY = `${PLUGIN_ID}:sections`;
