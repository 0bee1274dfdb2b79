import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IResolvedConfig } from '../tokens';
import { formatValue } from './format';

/** The resolved configuration, collapsed: each key, its value and where it came from. */
export function ConfigDetails(props: {
  config: IResolvedConfig;
  trans: TranslationBundle;
}): JSX.Element {
  const { config, trans } = props;
  const empty = trans.__('(empty)');
  return (
    <details className="jp-mlops-config">
      <summary className="jp-mlops-config-summary">
        {trans.__('Configuration')}
        <span className="jp-mlops-config-origin">
          {config.config_file
            ? fileName(config.config_file)
            : trans.__('defaults')}
        </span>
      </summary>
      <div className="jp-mlops-config-body">
        <dl className="jp-mlops-config-paths">
          <dt>{trans.__('Project root')}</dt>
          <dd title={config.project_root}>{config.project_root}</dd>
          <dt>{trans.__('Config file')}</dt>
          <dd title={config.config_file ?? ''}>
            {config.config_file ?? trans.__('none (embedded defaults)')}
          </dd>
        </dl>
        <ul className="jp-mlops-config-values">
          {config.values.map(item => {
            const value = formatValue(item.value, empty);
            return (
              <li
                key={item.key}
                className="jp-mlops-config-item"
                data-key={item.key}
              >
                <span className="jp-mlops-config-key">{item.key}</span>
                <span
                  className="jp-mlops-config-source"
                  data-source={item.source}
                  title={trans.__('Set by: %1', item.source)}
                >
                  {fileName(item.source)}
                </span>
                <span
                  className="jp-mlops-config-value"
                  data-empty={value === empty ? 'true' : undefined}
                >
                  {value}
                </span>
              </li>
            );
          })}
        </ul>
      </div>
    </details>
  );
}

function fileName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}
