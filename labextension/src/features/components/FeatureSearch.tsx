import { TranslationBundle } from '@jupyterlab/translation';
import { HTMLSelect, InputGroup } from '@jupyterlab/ui-components';
import * as React from 'react';

import { InlineCode } from '../../components/InlineCode';
import { Latest, Outcome } from '../../panels/poll';
import { searchViews } from '../api';
import { tagPairs } from '../format';
import { IViewQuery, IViewSummary, IViewsReply } from '../tokens';
import { ErrorNote, describeError } from './ErrorNote';
import { ViewCard } from './ViewCard';

/** How long typing must pause before the search goes to the server. */
export const SEARCH_DEBOUNCE_MS = 250;

/** Results listed before a "Show N more" button (the sidebar stays compact). */
const SHOWN_RESULTS = 8;

export interface IFeatureSearchProps {
  /** The project's folder, relative to the server root. */
  folder: string;
  /** Changes whenever the views should be fetched again (the sidebar refreshed). */
  refreshKey: number;
  /** Open a view's details. */
  onOpen: (view: IViewSummary) => void;
  trans: TranslationBundle;
}

/** What one fetch answered: the views, or the error's message. */
type Fetched =
  | { kind: 'loading' }
  | { kind: 'ok'; reply: IViewsReply; key?: string }
  | { kind: 'error'; message: string };

/**
 * The search box with results as you type, owner and tag filters, and the
 * plain messages for an empty store or a failing server.
 */
export function FeatureSearch(props: IFeatureSearchProps): JSX.Element {
  const { folder, refreshKey, onOpen, trans } = props;
  const [text, setText] = React.useState('');
  const [owner, setOwner] = React.useState('');
  const [tag, setTag] = React.useState('');
  const [showAll, setShowAll] = React.useState(false);
  // every view of the project, unfiltered: the filters' choices and the empty-store check
  const [catalog, setCatalog] = React.useState<Fetched>({ kind: 'loading' });
  const [results, setResults] = React.useState<Fetched>({ kind: 'loading' });
  const query = text.trim();
  const filtered = query !== '' || owner !== '' || tag !== '';
  // which search a result answers: Enter opens the first result of this one only
  const searchKey = JSON.stringify([query, owner, tag]);
  // a new search lists its first results only
  React.useEffect(() => setShowAll(false), [searchKey, folder]);

  // newest answer wins: a slow answer to an older search never replaces a newer one
  const [catalogFetch] = React.useState(() => new Latest());
  const [searchFetch] = React.useState(() => new Latest());

  React.useEffect(() => {
    void catalogFetch
      .run(() => searchViews(folder))
      .then(outcome => outcome && setCatalog(fetched(outcome, trans)));
    return () => catalogFetch.cancel();
  }, [folder, refreshKey]);

  React.useEffect(() => {
    if (!filtered) {
      searchFetch.cancel();
      setResults(
        catalog.kind === 'ok' ? { ...catalog, key: searchKey } : catalog
      );
      return;
    }
    setResults(previous =>
      previous.kind === 'ok' ? previous : { kind: 'loading' }
    );
    const request: IViewQuery = { q: query, owner, tag };
    const timer = window.setTimeout(() => {
      void searchFetch
        .run(() => searchViews(folder, request))
        .then(
          outcome => outcome && setResults(fetched(outcome, trans, searchKey))
        );
    }, SEARCH_DEBOUNCE_MS);
    return () => {
      window.clearTimeout(timer);
      searchFetch.cancel();
    };
  }, [folder, query, owner, tag, catalog]);

  const all = catalog.kind === 'ok' ? catalog.reply.views : [];
  const owners = unique(all.map(view => view.owner ?? '').filter(Boolean));
  const tags = unique(all.flatMap(view => tagPairs(view.tags)));
  // a filter chosen in another project may name nothing here
  if (catalog.kind === 'ok' && owner && !owners.includes(owner)) {
    owners.push(owner);
  }
  if (catalog.kind === 'ok' && tag && !tags.includes(tag)) {
    tags.push(tag);
  }
  const emptyStore = catalog.kind === 'ok' && all.length === 0;

  return (
    <div className="jp-mlops-features-search">
      <InputGroup
        className="jp-mlops-features-query"
        type="search"
        placeholder={trans.__('Search features…')}
        aria-label={trans.__('Search feature views')}
        title={trans.__(
          'Matches names, descriptions, feature names, field descriptions, tags and owners'
        )}
        value={text}
        rightIcon="ui-components:search"
        onChange={event => setText(event.target.value)}
        onKeyDown={event => {
          // Enter opens the first result
          const first =
            results.kind === 'ok' && results.key === searchKey
              ? results.reply.views[0]
              : null;
          if (event.key === 'Enter' && first) {
            onOpen(first);
          }
        }}
      />
      <div className="jp-mlops-features-filters">
        <HTMLSelect
          className="jp-mlops-features-owner"
          aria-label={trans.__('Filter by owner')}
          title={trans.__('Show only the views of one owner')}
          value={owner}
          disabled={owners.length === 0}
          onChange={event => setOwner(event.target.value)}
          options={[
            { value: '', label: trans.__('Owner') },
            ...owners.map(value => ({ value, label: value }))
          ]}
        />
        <HTMLSelect
          className="jp-mlops-features-tag"
          aria-label={trans.__('Filter by tag')}
          title={trans.__('Show only the views with one tag')}
          value={tag}
          disabled={tags.length === 0}
          onChange={event => setTag(event.target.value)}
          options={[
            { value: '', label: trans.__('Tag') },
            ...tags.map(value => ({ value, label: value }))
          ]}
        />
      </div>
      <Results
        fetched={emptyStore ? catalog : results}
        emptyStore={emptyStore}
        query={query}
        onOpen={onOpen}
        onOwner={setOwner}
        onTag={setTag}
        showAll={showAll}
        onShowAll={() => setShowAll(true)}
        trans={trans}
      />
    </div>
  );
}

/** What a search's outcome shows. */
function fetched(
  outcome: Outcome<IViewsReply>,
  trans: TranslationBundle,
  key?: string
): Fetched {
  return outcome.ok
    ? { kind: 'ok', reply: outcome.value, key }
    : { kind: 'error', message: describeError(outcome.error, trans) };
}

function Results(props: {
  fetched: Fetched;
  emptyStore: boolean;
  query: string;
  onOpen: (view: IViewSummary) => void;
  onOwner: (owner: string) => void;
  onTag: (tag: string) => void;
  showAll: boolean;
  onShowAll: () => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { fetched, trans } = props;
  if (fetched.kind === 'loading') {
    return (
      <p className="jp-mlops-features-note" aria-busy="true">
        {trans.__('Looking for feature views…')}
      </p>
    );
  }
  if (fetched.kind === 'error') {
    return <ErrorNote message={fetched.message} />;
  }
  if (props.emptyStore) {
    return (
      <p className="jp-mlops-features-note" data-kind="empty-store">
        <InlineCode
          text={trans.__(
            'No feature views in this project yet: publish one with `%mlops features publish df --name … --entities … --timestamp …`'
          )}
        />
      </p>
    );
  }
  const views = fetched.reply.views;
  if (views.length === 0) {
    return (
      <p className="jp-mlops-features-note" data-kind="no-match">
        {props.query
          ? trans.__('No feature view matches “%1”.', props.query)
          : trans.__('No feature view matches these filters.')}
      </p>
    );
  }
  const shown = props.showAll ? views : views.slice(0, SHOWN_RESULTS);
  return (
    <>
      <ul
        className="jp-mlops-features-results"
        aria-label={trans.__('Feature views')}
      >
        {shown.map(view => (
          <ViewCard
            key={view.name}
            view={view}
            showMatch={props.query !== ''}
            onOpen={() => props.onOpen(view)}
            onOwner={props.onOwner}
            onTag={props.onTag}
            trans={trans}
          />
        ))}
      </ul>
      {shown.length < views.length && (
        <button className="jp-mlops-features-more" onClick={props.onShowAll}>
          {trans.__('Show %1 more', views.length - shown.length)}
        </button>
      )}
    </>
  );
}

function unique(values: string[]): string[] {
  return [...new Set(values)].sort();
}
