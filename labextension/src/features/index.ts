import { Widget } from '@lumino/widgets';

import { IPanelContext } from '../panels/context';
import { FeatureViewOpener } from './detail';
import { FeaturesPanel } from './panel';

/**
 * The Features panel, shown in the MLOps sidebar under the capability's status:
 * search the project's feature views; a view opens in the main area with its
 * schema, statistics, versions, runs and an "Insert code" button.
 */
export function createFeaturesPanel(context: IPanelContext): Widget | null {
  const opener = new FeatureViewOpener(
    context.app,
    context.notebooks,
    context.trans
  );
  return new FeaturesPanel(
    context.status,
    (folder, view) => opener.open(folder, view.name),
    context.trans
  );
}
