import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { InlineCode } from '../../components/InlineCode';
import { RequestError } from '../../handler';

/** A failed request, in one line: the server's own message where it sent one. */
export function describeError(
  error: unknown,
  trans: TranslationBundle
): string {
  if (error instanceof RequestError) {
    if (error.status === 404 && /^404\b/.test(error.message)) {
      // no JSON message: the route itself is missing, not a view
      return trans.__(
        'This Jupyter server has no Features API: update jupyter-mlops on the server and restart it.'
      );
    }
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** An error the user should read, styled like the sidebar's banners. */
export function ErrorNote(props: { message: string }): JSX.Element {
  return (
    <p className="jp-mlops-features-error" role="alert">
      <InlineCode text={props.message} />
    </p>
  );
}
