import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';

import { downloadExport } from './api';
import { describe } from './model';
import { Revision } from './tokens';

/**
 * Download the review of `path` between `base` and `head` as one static HTML file
 * anyone can read without Jupyter, and say how it went.
 */
export async function exportReviewHtml(
  path: string,
  base: Revision,
  head: Revision,
  trans: TranslationBundle
): Promise<void> {
  try {
    const name = await downloadExport(path, base, head);
    Notification.success(trans.__('Review exported as %1', name), {
      autoClose: 4000
    });
  } catch (error) {
    Notification.error(
      trans.__('The review could not be exported: %1', describe(error))
    );
  }
}
