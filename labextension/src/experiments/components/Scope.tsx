import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ExperimentsModel } from '../model';

/** "This notebook" | "Whole experiment". */
export function ScopeToggle(props: {
  model: ExperimentsModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  const choices: [ExperimentsModel['scope'], string][] = [
    ['notebook', trans.__('This notebook')],
    ['experiment', trans.__('Whole experiment')]
  ];
  return (
    <div
      className="jp-mlops-experiments-scope"
      role="group"
      aria-label={trans.__('Which runs')}
    >
      {choices.map(([scope, label]) => (
        <button
          key={scope}
          data-scope={scope}
          aria-pressed={model.scope === scope}
          onClick={() => {
            model.scope = scope;
          }}
        >
          {label}
        </button>
      ))}
    </div>
  );
}
