import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { InlineCode } from '../../components/InlineCode';
import { getView, getViewStats } from '../api';
import {
  formatAge,
  formatCount,
  formatStat,
  formatTime,
  formatTtl,
  tagPairs
} from '../format';
import { IViewDetail, IViewStats } from '../tokens';
import { ErrorNote, describeError } from './ErrorNote';

/** What the Insert code button achieved, in words. */
export interface IInsertOutcome {
  ok: boolean;
  message: string;
}

export interface IViewDetailProps {
  /** The project's folder, relative to the server root. */
  folder: string;
  name: string;
  /** Changes when the view is opened again from the search: show its latest version. */
  openKey: number;
  /** Changes when the view should be fetched again as it is shown (refresh). */
  refreshKey: number;
  /** The notebook Insert code writes to (its file name); null when none is open. */
  target: string | null;
  /** Put the snippet into the notebook in use. */
  onInsert: (snippet: string) => Promise<IInsertOutcome>;
  trans: TranslationBundle;
}

type Loaded<T> =
  | { kind: 'loading' }
  | { kind: 'ok'; value: T }
  | { kind: 'error'; message: string };

/**
 * A feature view in full: what it is, the ready `%mlops features get` line, its
 * schema with roles and descriptions, statistics (fetched after the rest, as the
 * server computes them on demand), versions and the runs that used it.
 */
export function ViewDetail(props: IViewDetailProps): JSX.Element {
  const { folder, name, openKey, refreshKey, trans } = props;
  const [version, setVersion] = React.useState<number | null>(null);
  const [detail, setDetail] = React.useState<Loaded<IViewDetail>>({
    kind: 'loading'
  });
  const [stats, setStats] = React.useState<Loaded<IViewStats>>({
    kind: 'loading'
  });
  const [outcome, setOutcome] = React.useState<IInsertOutcome | null>(null);

  React.useEffect(() => {
    // opened again from the search: show the latest version
    setVersion(null);
  }, [openKey]);

  React.useEffect(() => {
    let current = true;
    setDetail(previous =>
      previous.kind === 'ok' && previous.value.name === name
        ? previous
        : { kind: 'loading' }
    );
    getView(folder, name, version)
      .then(reply => {
        if (current) {
          setDetail({ kind: 'ok', value: reply.view });
        }
      })
      .catch(error => {
        if (current) {
          setDetail({ kind: 'error', message: describeError(error, trans) });
        }
      });
    return () => {
      current = false;
    };
  }, [folder, name, version, openKey, refreshKey]);

  const shown = detail.kind === 'ok' ? detail.value : null;
  React.useEffect(() => {
    if (!shown) {
      return;
    }
    let current = true;
    setStats({ kind: 'loading' });
    getViewStats(folder, shown.name, shown.version)
      .then(value => current && setStats({ kind: 'ok', value }))
      .catch(
        error =>
          current &&
          setStats({ kind: 'error', message: describeError(error, trans) })
      );
    return () => {
      current = false;
    };
  }, [folder, shown?.name, shown?.version, openKey, refreshKey]);

  if (detail.kind === 'loading') {
    return (
      <div className="jp-mlops-features-detail" aria-busy="true">
        <p className="jp-mlops-features-note">
          {trans.__('Loading %1…', name)}
        </p>
      </div>
    );
  }
  if (detail.kind === 'error') {
    return (
      <div className="jp-mlops-features-detail">
        <h2 className="jp-mlops-features-title">{name}</h2>
        <ErrorNote message={detail.message} />
      </div>
    );
  }
  const view = detail.value;
  const latest = Math.max(view.version, ...view.versions.map(v => v.version));
  const snippet = pinnedSnippet(view, latest);
  const insert = async (): Promise<void> => {
    setOutcome(await props.onInsert(snippet));
  };
  return (
    <div
      className="jp-mlops-features-detail"
      data-view={view.name}
      data-version={view.version}
    >
      <header className="jp-mlops-features-detail-header">
        <h2 className="jp-mlops-features-title">
          {view.name}
          <span className="jp-mlops-features-version">
            {trans.__('v%1', view.version)}
            {view.version !== latest &&
              ` ${trans.__('(latest is v%1)', latest)}`}
          </span>
        </h2>
        {view.description && (
          <p className="jp-mlops-features-description">{view.description}</p>
        )}
        <Facts view={view} trans={trans} />
      </header>

      <section
        className="jp-mlops-features-snippet"
        aria-label={trans.__('Code')}
      >
        <pre className="jp-mlops-features-code">{snippet}</pre>
        <div className="jp-mlops-features-insert">
          <Button
            className="jp-mlops-features-insert-button jp-mod-styled jp-mod-accept"
            onClick={() => void insert()}
            title={trans.__(
              'Put this line into the active notebook: into the active cell if it is empty, else into a new cell below it'
            )}
          >
            {trans.__('Insert code')}
          </Button>
          {!outcome && (
            <span className="jp-mlops-features-insert-target">
              {props.target
                ? trans.__('into %1', props.target)
                : trans.__('no notebook open')}
            </span>
          )}
          {outcome && (
            <span
              className="jp-mlops-features-insert-outcome"
              data-ok={outcome.ok}
              role={outcome.ok ? 'status' : 'alert'}
            >
              {outcome.message}
            </span>
          )}
        </div>
      </section>

      <section className="jp-mlops-features-schema">
        <h3>{trans.__('Schema')}</h3>
        <table className="jp-mlops-features-table">
          <thead>
            <tr>
              <th>{trans.__('Column')}</th>
              <th>{trans.__('Type')}</th>
              <th>{trans.__('Role')}</th>
              <th>{trans.__('Description')}</th>
            </tr>
          </thead>
          <tbody>
            {view.schema.map(field => (
              <tr key={field.name} data-column={field.name}>
                <td className="jp-mlops-features-column">{field.name}</td>
                <td className="jp-mlops-features-type">{field.type}</td>
                <td>
                  <span
                    className="jp-mlops-features-role"
                    data-role={field.role}
                  >
                    {roleLabel(field.role, trans)}
                  </span>
                </td>
                <td>{field.description}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <StatsSection stats={stats} trans={trans} />

      <section className="jp-mlops-features-versions">
        <h3>{trans.__('Versions')}</h3>
        <table className="jp-mlops-features-table">
          <thead>
            <tr>
              <th>{trans.__('Version')}</th>
              <th>{trans.__('Created')}</th>
              <th>{trans.__('Columns')}</th>
            </tr>
          </thead>
          <tbody>
            {[...view.versions]
              .sort((a, b) => b.version - a.version)
              .map(v => (
                <tr
                  key={v.version}
                  data-version={v.version}
                  className={
                    v.version === view.version ? 'jp-mod-selected' : undefined
                  }
                >
                  <td>
                    {v.version === view.version ? (
                      trans.__('v%1', v.version)
                    ) : (
                      <button
                        className="jp-mlops-features-link"
                        title={trans.__('Show version %1', v.version)}
                        onClick={() =>
                          setVersion(v.version === latest ? null : v.version)
                        }
                      >
                        {trans.__('v%1', v.version)}
                      </button>
                    )}
                  </td>
                  <td title={v.created_at}>{formatTime(v.created_at)}</td>
                  <td className="jp-mlops-features-columns">
                    {v.columns.join(', ')}
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      </section>

      <section className="jp-mlops-features-runs">
        <h3>{trans.__('Runs that used it')}</h3>
        {view.runs.length === 0 ? (
          <p className="jp-mlops-features-note">
            <InlineCode
              text={trans.__(
                'No tracked run has retrieved these features yet: a run active during `%mlops features get` is recorded here.'
              )}
            />
          </p>
        ) : (
          <table className="jp-mlops-features-table">
            <thead>
              <tr>
                <th>{trans.__('Run')}</th>
                <th>{trans.__('Status')}</th>
                <th>{trans.__('Started')}</th>
                <th>{trans.__('Experiment')}</th>
              </tr>
            </thead>
            <tbody>
              {view.runs.map(run => (
                <tr key={run.run_id} data-run={run.run_id}>
                  <td title={run.run_id}>{run.run_name || run.run_id}</td>
                  <td>{run.status}</td>
                  <td title={run.started_at ?? ''}>
                    {formatTime(run.started_at)}
                  </td>
                  <td>{run.experiment_id}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

/** The view's keys, owner, tags, TTL and freshness as a compact list. */
function Facts(props: {
  view: IViewDetail;
  trans: TranslationBundle;
}): JSX.Element {
  const { view, trans } = props;
  const facts: [string, string, string?][] = [
    [trans.__('Entities'), view.entities.join(', ')],
    [trans.__('Timestamp'), view.timestamp]
  ];
  if (view.created_timestamp) {
    facts.push([trans.__('Created timestamp'), view.created_timestamp]);
  }
  facts.push([
    trans.__('TTL'),
    view.ttl_seconds === null ? trans.__('none') : formatTtl(view.ttl_seconds)
  ]);
  if (view.owner) {
    facts.push([trans.__('Owner'), view.owner]);
  }
  const tags = tagPairs(view.tags);
  if (tags.length > 0) {
    facts.push([trans.__('Tags'), tags.join(', ')]);
  }
  if (view.rows !== null) {
    facts.push([trans.__('Rows'), formatCount(view.rows)]);
  }
  const newest = formatAge(view.newest_event);
  if (newest) {
    facts.push([
      trans.__('Newest event'),
      newest,
      formatTime(view.newest_event)
    ]);
  }
  const published = formatAge(view.last_publish);
  if (published) {
    facts.push([
      trans.__('Last publish'),
      published,
      formatTime(view.last_publish)
    ]);
  }
  return (
    <dl className="jp-mlops-features-facts">
      {facts.map(([label, value, title]) => (
        <React.Fragment key={label}>
          <dt>{label}</dt>
          <dd title={title}>{value}</dd>
        </React.Fragment>
      ))}
    </dl>
  );
}

function StatsSection(props: {
  stats: Loaded<IViewStats>;
  trans: TranslationBundle;
}): JSX.Element {
  const { stats, trans } = props;
  let body: JSX.Element;
  if (stats.kind === 'loading') {
    body = (
      <p className="jp-mlops-features-note" aria-busy="true">
        <span className="jp-mlops-features-spinner" />
        {trans.__('Computing statistics…')}
      </p>
    );
  } else if (stats.kind === 'error') {
    body = <ErrorNote message={stats.message} />;
  } else {
    body = (
      <>
        <p className="jp-mlops-features-note">
          {trans._n(
            '%2 row',
            '%2 rows',
            stats.value.rows,
            formatCount(stats.value.rows)
          )}
        </p>
        <table className="jp-mlops-features-table">
          <thead>
            <tr>
              <th>{trans.__('Column')}</th>
              <th className="jp-mlops-features-number">{trans.__('Nulls')}</th>
              <th className="jp-mlops-features-number">{trans.__('Min')}</th>
              <th className="jp-mlops-features-number">{trans.__('Max')}</th>
              <th className="jp-mlops-features-number">{trans.__('Mean')}</th>
              <th className="jp-mlops-features-number">
                {trans.__('Distinct')}
              </th>
            </tr>
          </thead>
          <tbody>
            {stats.value.columns.map(column => (
              <tr key={column.name} data-column={column.name}>
                <td className="jp-mlops-features-column">{column.name}</td>
                <td className="jp-mlops-features-number">
                  {formatCount(column.nulls)}
                </td>
                <td
                  className="jp-mlops-features-number"
                  title={column.min === null ? undefined : String(column.min)}
                >
                  {formatStat(column.min)}
                </td>
                <td
                  className="jp-mlops-features-number"
                  title={column.max === null ? undefined : String(column.max)}
                >
                  {formatStat(column.max)}
                </td>
                <td
                  className="jp-mlops-features-number"
                  title={column.mean === null ? undefined : String(column.mean)}
                >
                  {formatStat(column.mean)}
                </td>
                <td className="jp-mlops-features-number">
                  {formatCount(column.distinct)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </>
    );
  }
  return (
    <section
      className="jp-mlops-features-stats"
      data-state={stats.kind}
      aria-busy={stats.kind === 'loading'}
    >
      <h3>{trans.__('Statistics')}</h3>
      {body}
    </section>
  );
}

/**
 * The view's snippet, naming the version shown when it is not the latest one (the
 * server's snippet asks for the latest): `name:*` becomes `name@2:*`.
 */
function pinnedSnippet(view: IViewDetail, latest: number): string {
  const ref = `${view.name}:`;
  if (view.version === latest || !view.snippet.includes(ref)) {
    return view.snippet;
  }
  return view.snippet.replace(ref, `${view.name}@${view.version}:`);
}

function roleLabel(role: string, trans: TranslationBundle): string {
  switch (role) {
    case 'entity':
      return trans.__('entity');
    case 'timestamp':
      return trans.__('event time');
    case 'created_timestamp':
      return trans.__('created time');
    default:
      return trans.__('feature');
  }
}
