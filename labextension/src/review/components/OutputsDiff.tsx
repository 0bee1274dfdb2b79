import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ICellDiff, INotebookOutput } from '../tokens';
import { MimeView, outputBundle, outputImage } from './MimeView';

export interface IOutputsDiffProps {
  cell: ICellDiff;
  rendermime: IRenderMimeRegistry;
  /** Comment on an output of the head; null when the cell cannot take comments. */
  onComment: ((output: number) => void) | null;
  trans: TranslationBundle;
}

/**
 * A cell's outputs: the head's alone when they did not change; otherwise base and
 * head side by side, output by output, and images also as a swipe.
 */
export function OutputsDiff(props: IOutputsDiffProps): JSX.Element | null {
  const { cell, rendermime, onComment, trans } = props;
  const base = cell.base_outputs ?? [];
  const head = cell.head_outputs ?? [];
  if (!cell.outputs_changed) {
    const outputs = cell.status === 'removed' ? base : head;
    if (outputs.length === 0) {
      return null;
    }
    return (
      <div className="jp-mlops-review-outputs" data-changed="false">
        {outputs.map((output, i) => (
          <div key={i} className="jp-mlops-review-output">
            <OutputView output={output} rendermime={rendermime} trans={trans} />
            {cell.status !== 'removed' && (
              <OutputCommentButton
                index={i}
                onComment={onComment}
                trans={trans}
              />
            )}
          </div>
        ))}
      </div>
    );
  }
  const rows: JSX.Element[] = [];
  for (let i = 0; i < Math.max(base.length, head.length); i++) {
    const before = base[i] ?? null;
    const after = head[i] ?? null;
    const beforeImage = before ? outputImage(before) : null;
    const afterImage = after ? outputImage(after) : null;
    if (beforeImage && afterImage) {
      rows.push(
        <ImageCompare
          key={i}
          base={beforeImage}
          head={afterImage}
          comment={
            <OutputCommentButton
              index={i}
              onComment={onComment}
              trans={trans}
            />
          }
          trans={trans}
        />
      );
      continue;
    }
    rows.push(
      <div key={i} className="jp-mlops-review-outputPair">
        <div className="jp-mlops-review-outputSide" data-side="base">
          {before ? (
            <OutputView output={before} rendermime={rendermime} trans={trans} />
          ) : (
            <span className="jp-mlops-review-none">{trans.__('(none)')}</span>
          )}
        </div>
        <div className="jp-mlops-review-outputSide" data-side="head">
          {after ? (
            <div className="jp-mlops-review-output">
              <OutputView
                output={after}
                rendermime={rendermime}
                trans={trans}
              />
              <OutputCommentButton
                index={i}
                onComment={onComment}
                trans={trans}
              />
            </div>
          ) : (
            <span className="jp-mlops-review-none">{trans.__('(none)')}</span>
          )}
        </div>
      </div>
    );
  }
  return (
    <div className="jp-mlops-review-outputs" data-changed="true">
      <div className="jp-mlops-review-outputsHeading">
        <span>{trans.__('Outputs before')}</span>
        <span>{trans.__('Outputs after')}</span>
      </div>
      {rows}
    </div>
  );
}

function OutputView(props: {
  output: INotebookOutput;
  rendermime: IRenderMimeRegistry;
  trans: TranslationBundle;
}): JSX.Element {
  const { output, rendermime, trans } = props;
  const bundle = React.useMemo(() => outputBundle(output), [output]);
  return (
    <MimeView
      rendermime={rendermime}
      bundle={bundle}
      fallback={trans.__(
        '(an output of type %1 with no renderer here)',
        output.output_type
      )}
    />
  );
}

/** A small button that starts a comment on one output of the head. */
function OutputCommentButton(props: {
  index: number;
  onComment: ((output: number) => void) | null;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { index, onComment, trans } = props;
  if (!onComment) {
    return null;
  }
  return (
    <button
      type="button"
      className="jp-mlops-review-button jp-mlops-review-outputComment"
      data-output={index}
      title={trans.__('Comment on output %1', index + 1)}
      onClick={() => onComment(index)}
    >
      {trans.__('Comment')}
    </button>
  );
}

/** Two images: side by side, or one over the other with a slider revealing the base. */
export function ImageCompare(props: {
  base: string;
  head: string;
  /** A control shown beside the mode switch. */
  comment?: React.ReactNode;
  trans: TranslationBundle;
}): JSX.Element {
  const { base, head, trans } = props;
  const [mode, setMode] = React.useState<'side-by-side' | 'swipe'>(
    'side-by-side'
  );
  const [reveal, setReveal] = React.useState(50);
  return (
    <div className="jp-mlops-review-images" data-mode={mode}>
      <div className="jp-mlops-review-imagesBar">
        <label>
          <input
            type="radio"
            checked={mode === 'side-by-side'}
            onChange={() => setMode('side-by-side')}
          />
          {trans.__('Side by side')}
        </label>
        <label>
          <input
            type="radio"
            checked={mode === 'swipe'}
            onChange={() => setMode('swipe')}
          />
          {trans.__('Swipe')}
        </label>
        <span className="jp-mlops-review-spacer" />
        {props.comment}
      </div>
      {mode === 'side-by-side' ? (
        <div className="jp-mlops-review-outputPair">
          <div className="jp-mlops-review-outputSide" data-side="base">
            <img src={base} alt={trans.__('Image before')} />
          </div>
          <div className="jp-mlops-review-outputSide" data-side="head">
            <img src={head} alt={trans.__('Image after')} />
          </div>
        </div>
      ) : (
        <div className="jp-mlops-review-swipe">
          <div className="jp-mlops-review-swipeStage">
            <img src={head} alt={trans.__('Image after')} />
            <img
              className="jp-mlops-review-swipeBase"
              src={base}
              alt={trans.__('Image before')}
              style={{ clipPath: `inset(0 ${100 - reveal}% 0 0)` }}
            />
            <div
              className="jp-mlops-review-swipeHandle"
              style={{ left: `${reveal}%` }}
            />
          </div>
          <input
            type="range"
            min={0}
            max={100}
            value={reveal}
            aria-label={trans.__('How much of the image before to show')}
            onChange={event => setReveal(Number(event.target.value))}
          />
          <div className="jp-mlops-review-swipeLegend">
            <span>{trans.__('before')}</span>
            <span>{trans.__('after')}</span>
          </div>
        </div>
      )}
    </div>
  );
}
