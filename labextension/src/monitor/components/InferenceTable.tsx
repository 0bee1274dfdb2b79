import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { InlineCode } from '../../components/InlineCode';
import {
  formatDateTime,
  formatNumber,
  formatTime,
  formatValue,
  inferenceColumns
} from '../format';
import { IInferencesReply, InferenceValue } from '../tokens';

export interface IInferenceTableProps {
  /** The deployment's name. */
  name: string;
  reply: IInferencesReply;
  trans: TranslationBundle;
}

/**
 * The latest requests a deployment logged, newest first: request id, time, version,
 * the prediction and the latency, then a few inputs (what a narrow sidebar shows
 * first is what the model answered).
 */
export function InferenceTable(props: IInferenceTableProps): JSX.Element {
  const { name, reply, trans } = props;
  if (reply.rows.length === 0) {
    return (
      <p className="jp-mlops-monitor-muted jp-mlops-monitor-no-requests">
        {trans.__('No request logged in the last hour.')}
      </p>
    );
  }
  const columns = inferenceColumns(reply);
  const cell = (row: InferenceValue[], index: number): InferenceValue =>
    index >= 0 ? (row[index] ?? null) : null;
  const rows = [...reply.rows].reverse();
  return (
    <div className="jp-mlops-monitor-table-scroll">
      <table className="jp-mlops-monitor-requests">
        <thead>
          <tr>
            <th>{trans.__('Request')}</th>
            <th>{trans.__('Time')}</th>
            <th title={trans.__('The model version that answered')}>
              {trans.__('v')}
            </th>
            {columns.predictions.map(([name]) => (
              <th key={`out-${name}`} data-kind="prediction">
                {name}
              </th>
            ))}
            <th
              data-kind="latency"
              title={trans.__('Latency: received to answered, in ms')}
            >
              {trans.__('ms')}
            </th>
            {columns.inputs.map(([name]) => (
              <th key={`in-${name}`} data-kind="input">
                {name}
              </th>
            ))}
            {columns.moreInputs > 0 && (
              <th
                data-kind="input"
                title={trans._n(
                  '%1 more input',
                  '%1 more inputs',
                  columns.moreInputs
                )}
              >
                …
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => {
            const id = formatValue(cell(row, columns.requestId));
            const time = cell(row, columns.timestamp);
            const latency = cell(row, columns.latency);
            return (
              <tr key={`${id}-${i}`} data-request-id={id}>
                <td className="jp-mlops-monitor-request-id" title={id}>
                  <code>{id}</code>
                </td>
                <td title={formatDateTime(time)}>{formatTime(time)}</td>
                <td>{formatValue(cell(row, columns.version))}</td>
                {columns.predictions.map(([name, index]) => (
                  <td key={`out-${name}`} data-kind="prediction">
                    {formatValue(cell(row, index))}
                  </td>
                ))}
                <td data-kind="latency">
                  {typeof latency === 'number'
                    ? formatNumber(latency, 3)
                    : formatValue(latency)}
                </td>
                {columns.inputs.map(([name, index]) => (
                  <td key={`in-${name}`} data-kind="input">
                    {formatValue(cell(row, index))}
                  </td>
                ))}
                {columns.moreInputs > 0 && <td data-kind="input" />}
              </tr>
            );
          })}
        </tbody>
      </table>
      {reply.total > reply.rows.length && (
        <p className="jp-mlops-monitor-muted">
          <InlineCode
            text={trans.__(
              'The latest %1 of %2 requests in the last hour; all of them: `%3`',
              reply.rows.length,
              reply.total,
              `%mlops inferences ${name} --since 1h`
            )}
          />
        </p>
      )}
    </div>
  );
}
