import { LabIcon } from '@jupyterlab/ui-components';

import mlopsSvg from '../style/icons/mlops.svg';

/** The MLOps sidebar's icon. */
export const mlopsIcon = new LabIcon({
  name: 'jupyter-mlops:mlops',
  svgstr: mlopsSvg
});
