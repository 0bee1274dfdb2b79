import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { formatCell } from '../format';
import { describe } from '../model';
import { IPredictions } from '../tokens';

export interface ITryItProps {
  /** What the box starts with: a request that fits the model's signature. */
  example: string;
  predict: (data: unknown) => Promise<IPredictions>;
  trans: TranslationBundle;
}

const SHOWN_ROWS = 20;

/**
 * A small box that sends JSON (records, `{columns, data}` or an MLflow payload such as
 * `{"inputs": …}`) to the deployment and shows its predictions.
 */
export function TryIt(props: ITryItProps): JSX.Element {
  const { example, predict, trans } = props;
  const [text, setText] = React.useState(example);
  const [busy, setBusy] = React.useState(false);
  const [answer, setAnswer] = React.useState<IPredictions | null>(null);
  const [error, setError] = React.useState<string | null>(null);

  const send = async (): Promise<void> => {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (parseError) {
      setAnswer(null);
      setError(trans.__('Not JSON: %1', describe(parseError)));
      return;
    }
    setBusy(true);
    setError(null);
    setAnswer(null); // never show the last answer as if it were this one's
    try {
      setAnswer(await predict(data));
    } catch (failure) {
      setAnswer(null);
      setError(describe(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="jp-mlops-deploy-tryit">
      <textarea
        className="jp-mlops-deploy-tryit-input"
        aria-label={trans.__('Request (JSON records)')}
        title={trans.__(
          'JSON records ([{"col": 1.0}]), {"columns": […], "data": […]} or an MLflow payload ({"inputs": …})'
        )}
        spellCheck={false}
        rows={3}
        value={text}
        onChange={event => setText(event.target.value)}
        onKeyDown={event => {
          if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
            void send();
          }
        }}
      />
      <div className="jp-mlops-deploy-actions">
        <Button small disabled={busy} onClick={() => void send()}>
          {busy ? trans.__('Sending…') : trans.__('Predict')}
        </Button>
      </div>
      {error && (
        <div className="jp-mlops-deploy-error" role="alert">
          {error}
        </div>
      )}
      {answer && (
        <table className="jp-mlops-deploy-predictions">
          <thead>
            <tr>
              {answer.columns.map((column, i) => (
                <th key={i}>{String(column)}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {answer.data.slice(0, SHOWN_ROWS).map((row, i) => (
              <tr key={i}>
                {row.map((cell, j) => (
                  <td key={j}>{formatCell(cell)}</td>
                ))}
              </tr>
            ))}
          </tbody>
          {answer.data.length > SHOWN_ROWS && (
            <tfoot>
              <tr>
                <td colSpan={answer.columns.length}>
                  {trans.__(
                    '%1 more rows',
                    String(answer.data.length - SHOWN_ROWS)
                  )}
                </td>
              </tr>
            </tfoot>
          )}
        </table>
      )}
    </div>
  );
}
