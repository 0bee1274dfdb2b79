import { TranslationBundle } from '@jupyterlab/translation';
import { AccordionToolbar, ReactWidget } from '@jupyterlab/ui-components';
import { Panel, Title, Widget } from '@lumino/widgets';
import * as React from 'react';

import { CapabilityHealth, stateLabel } from './components/CapabilityHealth';
import { StatusModel } from './status/model';
import { CapabilityId, SectionState } from './tokens';

/** A React view of the status model, rendered again whenever the model changes. */
export class StatusView extends ReactWidget {
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
 * One capability's section of the sidebar's accordion: its title bar folds the
 * health of the capability's backends into a coloured dot and one line (always in
 * sight, open or not); the body holds the checks (folded, one click away) and the
 * capability's own panel.
 */
export class CapabilitySection extends Panel {
  constructor(options: CapabilitySection.IOptions) {
    super();
    const { model, capability, trans } = options;
    this.capability = capability;
    this._model = model;
    this._trans = trans;
    this.id = `mlops-section-${capability}`;
    this.addClass('jp-mlops-sectionBody');
    this.title.label = options.title;
    const health = new StatusView(model, m =>
      React.createElement(CapabilityHealth, {
        id: capability,
        state: m.sectionState(capability),
        capability: m.capability(capability),
        placeholder: placeholder(m, trans),
        stale: isStale(m),
        trans
      })
    );
    health.addClass('jp-mlops-sectionView');
    this.addWidget(health);
    if (options.panel) {
      this.addWidget(options.panel);
    }
    model.changed.connect(this._updateTitle, this);
    this._updateTitle();
  }

  readonly capability: CapabilityId;

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.changed.disconnect(this._updateTitle, this);
    super.dispose();
  }

  /** The title bar follows the status (redrawn only when what it shows changed). */
  private _updateTitle(): void {
    const model = this._model;
    const capability = model.capability(this.capability);
    const line = capability?.summary ?? placeholder(model, this._trans);
    const dataset: Record<string, string> = {
      mlopsTitle: this.capability,
      state: model.sectionState(this.capability),
      line,
      stale: String(isStale(model))
    };
    const before = this.title.dataset;
    if (Object.keys(dataset).some(key => before[key] !== dataset[key])) {
      this.title.dataset = dataset;
    }
    this.title.caption = line;
  }

  private readonly _model: StatusModel;
  private readonly _trans: TranslationBundle;
}

export namespace CapabilitySection {
  export interface IOptions {
    capability: CapabilityId;
    /** The section's title, translated. */
    title: string;
    model: StatusModel;
    /** The capability's panel, under its health. */
    panel?: Widget;
    trans: TranslationBundle;
  }
}

/**
 * Draws a section's title bar: the fold caret, the health dot, the capability's name
 * and its one line of health (from the title's dataset, which `CapabilitySection`
 * keeps current; Lumino draws the bar again when the title changes).
 */
export class SectionTitleRenderer extends AccordionToolbar.Renderer {
  constructor(private readonly _trans: TranslationBundle) {
    super();
  }

  createSectionTitle(data: Title<Widget>): HTMLElement {
    const handle = super.createSectionTitle(data);
    handle.classList.add('jp-mlops-sectionTitle');
    const state = (data.dataset.state ?? 'loading') as SectionState;
    const dot = document.createElement('span');
    dot.className = 'jp-mlops-dot';
    dot.dataset.state = state;
    dot.setAttribute('role', 'img');
    dot.setAttribute('aria-label', stateLabel(state, this._trans));
    const label = handle.querySelector('.lm-AccordionPanel-titleLabel');
    handle.insertBefore(dot, label);
    const line = document.createElement('span');
    line.className = 'jp-mlops-sectionTitle-line';
    line.textContent = data.dataset.line ?? '';
    line.title = data.caption;
    handle.appendChild(line);
    return handle;
  }
}

/** What a section says when there is no answer for its capability. */
function placeholder(model: StatusModel, trans: TranslationBundle): string {
  if (model.reply?.config_error) {
    return trans.__('Not checked: fix the configuration error above first.');
  }
  if (model.failure) {
    return trans.__('Unknown: the status could not be fetched (see above).');
  }
  return trans.__('Checking…');
}

/** The answer shown is older than a failed request that followed it. */
function isStale(model: StatusModel): boolean {
  return model.failure !== null && model.reply !== null;
}
