import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { formatAge, tagPairs } from '../format';
import { IViewSummary } from '../tokens';

export interface IViewCardProps {
  view: IViewSummary;
  /** Say which field matched the search text. */
  showMatch: boolean;
  onOpen: () => void;
  /** Filter by this owner / tag (clicked on the card). */
  onOwner: (owner: string) => void;
  onTag: (tag: string) => void;
  trans: TranslationBundle;
}

/** One search result: name, description, tags, owner and freshness. */
export function ViewCard(props: IViewCardProps): JSX.Element {
  const { view, trans } = props;
  const age = formatAge(view.newest_event);
  const published = formatAge(view.last_publish);
  return (
    <li className="jp-mlops-features-result" data-view={view.name}>
      <button
        className="jp-mlops-features-open"
        title={trans.__(
          'Open %1: schema, statistics, versions and runs',
          view.name
        )}
        onClick={props.onOpen}
      >
        <span className="jp-mlops-features-name">{view.name}</span>
        <span className="jp-mlops-features-version">
          {trans.__('v%1', view.version)}
        </span>
      </button>
      {view.description && (
        <p className="jp-mlops-features-description">{view.description}</p>
      )}
      <div className="jp-mlops-features-meta">
        <span
          className="jp-mlops-features-keys"
          title={trans.__('Entity columns (join keys)')}
        >
          {trans._n('%1 feature', '%1 features', view.features.length)}
          {' · '}
          {trans.__('by %1', view.entities.join(', '))}
        </span>
        {age && (
          <span
            className="jp-mlops-features-freshness"
            title={
              published
                ? trans.__('Last published %1', published)
                : trans.__('Newest event timestamp in the view')
            }
          >
            {trans.__('newest event %1', age)}
          </span>
        )}
      </div>
      {(view.owner || Object.keys(view.tags).length > 0) && (
        <div className="jp-mlops-features-chips">
          {view.owner && (
            <button
              className="jp-mlops-features-chip"
              data-kind="owner"
              title={trans.__('Show only views owned by %1', view.owner)}
              onClick={() => props.onOwner(view.owner ?? '')}
            >
              @{view.owner}
            </button>
          )}
          {tagPairs(view.tags).map(pair => (
            <button
              key={pair}
              className="jp-mlops-features-chip"
              data-kind="tag"
              title={trans.__('Show only views tagged %1', pair)}
              onClick={() => props.onTag(pair)}
            >
              {pair}
            </button>
          ))}
        </div>
      )}
      {props.showMatch && view.match && (
        <div className="jp-mlops-features-match">
          {trans.__('matched in %1', view.match.replace(/_/g, ' '))}
        </div>
      )}
    </li>
  );
}
