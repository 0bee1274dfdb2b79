import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { fetchArtifacts } from '../api';
import { baseName, formatSize } from '../format';
import { describe } from '../model';
import { IArtifact } from '../tokens';

/** A run's artifacts, folders opened on click (each listed when first opened). */
export function Artifacts(props: {
  folder: string;
  runId: string;
  root: IArtifact[];
  trans: TranslationBundle;
}): JSX.Element {
  const { trans } = props;
  if (props.root.length === 0) {
    return (
      <p className="jp-mlops-experiments-muted">{trans.__('No artifacts.')}</p>
    );
  }
  return (
    <ul className="jp-mlops-experiments-artifacts">
      {props.root.map(a => (
        <ArtifactItem key={a.path} {...props} artifact={a} />
      ))}
    </ul>
  );
}

function ArtifactItem(props: {
  folder: string;
  runId: string;
  artifact: IArtifact;
  trans: TranslationBundle;
}): JSX.Element {
  const { artifact, trans } = props;
  const [open, setOpen] = React.useState(false);
  const [children, setChildren] = React.useState<IArtifact[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const toggle = (): void => {
    setOpen(!open);
    if (!open && children === null) {
      fetchArtifacts(props.folder, props.runId, artifact.path)
        .then(setChildren)
        .catch(e => setError(describe(e)));
    }
  };
  if (!artifact.is_dir) {
    return (
      <li className="jp-mlops-experiments-artifact" data-path={artifact.path}>
        <span>{baseName(artifact.path)}</span>
        <span className="jp-mlops-experiments-muted">
          {formatSize(artifact.size)}
        </span>
      </li>
    );
  }
  return (
    <li className="jp-mlops-experiments-artifact" data-path={artifact.path}>
      <button
        className="jp-mlops-experiments-link"
        aria-expanded={open}
        onClick={toggle}
      >
        {open ? '▾' : '▸'} {baseName(artifact.path)}/
      </button>
      {open && error && (
        <div className="jp-mlops-experiments-error">{error}</div>
      )}
      {open && !error && children === null && (
        <div className="jp-mlops-experiments-muted">{trans.__('Loading…')}</div>
      )}
      {open && children !== null && (
        <ul className="jp-mlops-experiments-artifacts">
          {children.length === 0 && (
            <li className="jp-mlops-experiments-muted">{trans.__('empty')}</li>
          )}
          {children.map(a => (
            <ArtifactItem key={a.path} {...props} artifact={a} />
          ))}
        </ul>
      )}
    </li>
  );
}
