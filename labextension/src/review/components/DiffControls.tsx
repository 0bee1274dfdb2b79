import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import {
  CHECKPOINT,
  HEAD,
  IDiffFilters,
  INDEX,
  Revision,
  WORKING
} from '../tokens';
import { DiffMode } from './SourceDiff';

const OTHER = '__other__';
const PRESETS: readonly Revision[] = [HEAD, INDEX, WORKING, CHECKPOINT];

/** Pick a revision: HEAD, INDEX, WORKING, CHECKPOINT, or a ref typed in. */
export function RevisionPicker(props: {
  label: string;
  value: Revision;
  onChange: (value: Revision) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { label, value, trans } = props;
  const preset = PRESETS.includes(value);
  const [typing, setTyping] = React.useState(!preset);
  const [text, setText] = React.useState(preset ? '' : value);
  React.useEffect(() => {
    const isPreset = PRESETS.includes(value);
    setTyping(!isPreset);
    setText(isPreset ? '' : value);
  }, [value]);
  const commit = (): void => {
    const ref = text.trim();
    if (ref.length > 0 && ref !== value) {
      props.onChange(ref);
    }
  };
  return (
    <label className="jp-mlops-review-picker" data-picker={label}>
      <span>{label}</span>
      <select
        value={typing ? OTHER : value}
        onChange={event => {
          if (event.target.value === OTHER) {
            setTyping(true);
          } else {
            setTyping(false);
            props.onChange(event.target.value);
          }
        }}
      >
        <option value={HEAD}>{trans.__('HEAD (last commit)')}</option>
        <option value={INDEX}>{trans.__('INDEX (staged)')}</option>
        <option value={WORKING}>{trans.__('WORKING (working copy)')}</option>
        <option value={CHECKPOINT}>
          {trans.__('CHECKPOINT (last saved checkpoint)')}
        </option>
        <option value={OTHER}>{trans.__('a ref or commit…')}</option>
      </select>
      {typing && (
        <input
          type="text"
          className="jp-mlops-review-refInput"
          value={text}
          placeholder={trans.__('main, v1.2, a1b2c3d, merge-base:main')}
          onChange={event => setText(event.target.value)}
          onBlur={commit}
          onKeyDown={event => {
            if (event.key === 'Enter') {
              commit();
            }
          }}
        />
      )}
    </label>
  );
}

export interface IDiffControlsProps {
  base: Revision;
  head: Revision;
  onRevisions: (base: Revision, head: Revision) => void;
  mode: DiffMode;
  onMode: (mode: DiffMode) => void;
  hideUnchanged: boolean;
  onHideUnchanged: (hide: boolean) => void;
  filters: IDiffFilters;
  onFilters: (filters: Partial<IDiffFilters>) => void;
  onRefresh: () => void;
  loading: boolean;
  trans: TranslationBundle;
}

/** The diff view's toolbar: revisions, layout, what to hide and compare. */
export function DiffControls(props: IDiffControlsProps): JSX.Element {
  const { base, head, mode, filters, trans } = props;
  const filter = (key: keyof IDiffFilters, label: string): JSX.Element => (
    <label className="jp-mlops-review-toggle" data-filter={key}>
      <input
        type="checkbox"
        checked={filters[key]}
        onChange={event => props.onFilters({ [key]: event.target.checked })}
      />
      {label}
    </label>
  );
  return (
    <div className="jp-mlops-review-controls">
      <RevisionPicker
        label={trans.__('Base')}
        value={base}
        onChange={value => props.onRevisions(value, head)}
        trans={trans}
      />
      <span className="jp-mlops-review-arrow">→</span>
      <RevisionPicker
        label={trans.__('Head')}
        value={head}
        onChange={value => props.onRevisions(base, value)}
        trans={trans}
      />
      <div
        className="jp-mlops-review-segmented"
        role="group"
        aria-label={trans.__('Layout')}
      >
        <button
          type="button"
          aria-pressed={mode === 'side-by-side'}
          data-mode="side-by-side"
          onClick={() => props.onMode('side-by-side')}
        >
          {trans.__('Side by side')}
        </button>
        <button
          type="button"
          aria-pressed={mode === 'unified'}
          data-mode="unified"
          onClick={() => props.onMode('unified')}
        >
          {trans.__('Unified')}
        </button>
      </div>
      <label className="jp-mlops-review-toggle" data-filter="hide-unchanged">
        <input
          type="checkbox"
          checked={props.hideUnchanged}
          onChange={event => props.onHideUnchanged(event.target.checked)}
        />
        {trans.__('Hide unchanged cells')}
      </label>
      <span className="jp-mlops-review-controlsGroup">
        <span className="jp-mlops-review-controlsLabel">
          {trans.__('Compare:')}
        </span>
        {filter('outputs', trans.__('outputs'))}
        {filter('metadata', trans.__('metadata'))}
        {filter('execution_counts', trans.__('execution counts'))}
      </span>
      <button
        type="button"
        className="jp-mlops-review-button jp-mlops-review-refresh"
        disabled={props.loading}
        onClick={props.onRefresh}
      >
        {props.loading ? trans.__('Loading…') : trans.__('Refresh')}
      </button>
    </div>
  );
}
