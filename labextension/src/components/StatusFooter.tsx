import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IResolvedConfig } from '../tokens';
import { ConfigDetails } from './ConfigDetails';
import { formatClock, formatMs } from './format';

export interface IStatusFooterProps {
  config: IResolvedConfig | null;
  lastUpdated: Date | null;
  /** How long the server took to answer the last status request. */
  elapsedMs: number | null;
  isLoading: boolean;
  frontendVersion: string;
  trans: TranslationBundle;
}

/** The resolved configuration and when the status was last fetched. */
export function StatusFooter(props: IStatusFooterProps): JSX.Element {
  const { config, lastUpdated, elapsedMs, isLoading, trans } = props;
  let when = isLoading ? trans.__('checking…') : trans.__('not checked yet');
  if (lastUpdated) {
    when = trans.__('last updated %1', formatClock(lastUpdated));
  }
  return (
    <div className="jp-mlops-footer" aria-busy={isLoading}>
      {config && <ConfigDetails config={config} trans={trans} />}
      <div className="jp-mlops-footer-line">
        <span
          className="jp-mlops-version"
          title={trans.__('jupyter-mlops frontend version')}
        >
          {trans.__('v%1', props.frontendVersion)}
        </span>
        <span
          className="jp-mlops-updated"
          data-updated={lastUpdated ? lastUpdated.toISOString() : undefined}
          title={
            elapsedMs === null
              ? undefined
              : trans.__(
                  'The server took %1 to run every check',
                  formatMs(elapsedMs)
                )
          }
        >
          {when}
        </span>
      </div>
    </div>
  );
}
