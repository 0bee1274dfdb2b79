import { Widget } from '@lumino/widgets';

import { IPanelContext } from '../panels/context';

/**
 * The Review panel, shown in the MLOps sidebar under the capability's status.
 * Not built yet: the section shows the capability's live status only.
 */
export function createReviewPanel(context: IPanelContext): Widget | null {
  void context;
  return null;
}
