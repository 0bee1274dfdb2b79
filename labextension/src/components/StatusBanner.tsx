import { TranslationBundle } from '@jupyterlab/translation';
import { errorIcon, infoIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { Problem } from '../tokens';
import { InlineCode } from './InlineCode';

/** What a person reads about a problem, and what to do about it. */
export function describeProblem(
  problem: Problem,
  trans: TranslationBundle
): string {
  switch (problem.kind) {
    case 'missing-server':
      return trans.__(
        'The jupyter_mlops server extension is not running on this server. Run `%1` and restart JupyterLab.',
        'jupyter server extension enable jupyter_mlops'
      );
    case 'version-mismatch':
      return trans.__(
        'Version mismatch: the frontend is %1 but the server extension is %2. Reinstall jupyter-mlops (`%3`) and restart JupyterLab.',
        problem.frontendVersion,
        problem.serverVersion,
        'pip install -U jupyter-mlops'
      );
    case 'config-error':
      return trans.__('Configuration error: %1', problem.message);
    case 'error':
      return problem.status > 0
        ? trans.__(
            'Could not get the MLOps status (HTTP %1): %2',
            problem.status,
            problem.message
          )
        : problem.message;
  }
}

/** One problem, said plainly. */
export function StatusBanner(props: {
  problem: Problem;
  trans: TranslationBundle;
}): JSX.Element {
  const { problem, trans } = props;
  const Icon = problem.kind === 'version-mismatch' ? infoIcon : errorIcon;
  return (
    <div className="jp-mlops-banner" data-kind={problem.kind} role="alert">
      <Icon.react
        tag="span"
        className="jp-mlops-banner-icon"
        width="16px"
        height="16px"
      />
      <span className="jp-mlops-banner-message">
        <InlineCode text={describeProblem(problem, trans)} />
      </span>
    </div>
  );
}

/** Every current problem, most fundamental first; nothing when all is well. */
export function StatusBanners(props: {
  problems: Problem[];
  trans: TranslationBundle;
}): JSX.Element | null {
  if (props.problems.length === 0) {
    return null;
  }
  return (
    <>
      {props.problems.map(problem => (
        <StatusBanner
          key={problem.kind}
          problem={problem}
          trans={props.trans}
        />
      ))}
    </>
  );
}
