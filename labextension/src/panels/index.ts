import { Widget } from '@lumino/widgets';

import { createDeployPanel } from '../deploy';
import { createExperimentsPanel } from '../experiments';
import { createFeaturesPanel } from '../features';
import { createMonitorPanel } from '../monitor';
import { createPipelinePanel } from '../pipeline';
import { createReviewPanel } from '../review';
import { CAPABILITY_IDS, CapabilityId } from '../tokens';
import { IPanelContext } from './context';

export { IPanelContext } from './context';

/**
 * Each capability's panel (absent where the capability has none here, e.g. no notebook
 * tracker for the pipeline). The factories are keyed by `CapabilityId`, so a capability
 * added to `CAPABILITIES` without a factory does not compile.
 */
export function createPanels(
  context: IPanelContext
): Partial<Record<CapabilityId, Widget>> {
  const factories: Record<
    CapabilityId,
    (context: IPanelContext) => Widget | null
  > = {
    features: createFeaturesPanel,
    experiments: createExperimentsPanel,
    pipeline: createPipelinePanel,
    review: createReviewPanel,
    deploy: createDeployPanel,
    monitor: createMonitorPanel
  };
  const panels: Partial<Record<CapabilityId, Widget>> = {};
  for (const id of CAPABILITY_IDS) {
    const panel = factories[id](context);
    if (panel) {
      panel.addClass('jp-mlops-panel');
      panel.node.dataset.mlopsPanel = id;
      panels[id] = panel;
    }
  }
  return panels;
}
