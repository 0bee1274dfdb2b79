import { Widget } from '@lumino/widgets';

import { IPanelContext } from '../panels/context';

/**
 * The Experiments panel, shown in the MLOps sidebar under the capability's status.
 * Not built yet: the section shows the capability's live status only.
 */
export function createExperimentsPanel(context: IPanelContext): Widget | null {
  void context;
  return null;
}
