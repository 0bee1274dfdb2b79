import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { ICellDiff, INotebookOutput } from '../tokens';
import { ImageDiff } from './ImageDiff';
import { MimeView, outputBundle, outputImageSource } from './MimeView';

export interface IOutputsDiffProps {
  cell: ICellDiff;
  rendermime: IRenderMimeRegistry;
  /** Comment on an output of the head; null when the cell cannot take comments. */
  onComment: ((output: number) => void) | null;
  trans: TranslationBundle;
}

/**
 * A cell's outputs: the head's alone when they did not change; otherwise base and
 * head side by side, output by output; an image changed into an image in the four
 * modes of `ImageDiff` (side by side, swipe, onion skin, pixel difference).
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
    const beforeImage = before ? outputImageSource(before) : null;
    const afterImage = after ? outputImageSource(after) : null;
    if (beforeImage && afterImage) {
      rows.push(
        <ImageDiff
          key={i}
          before={beforeImage}
          after={afterImage}
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
