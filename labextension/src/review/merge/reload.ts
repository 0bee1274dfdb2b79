import { Notification } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { TranslationBundle } from '@jupyterlab/translation';

/**
 * After the server wrote a notebook's file: an open editor of it without unsaved edits
 * reloads from disk; one with unsaved edits keeps them, and the user is offered to
 * reload (`message` says what was written).
 */
export function reloadFromDisk(
  docManager: IDocumentManager | null,
  path: string,
  message: string,
  trans: TranslationBundle
): void {
  const widget = docManager?.findWidget(path);
  const context = widget ? docManager?.contextForWidget(widget) : undefined;
  if (!context) {
    return;
  }
  if (!context.model.dirty) {
    void context.revert();
    return;
  }
  Notification.warning(message, {
    autoClose: false,
    actions: [
      {
        label: trans.__('Reload from disk'),
        caption: trans.__(
          'Show the file as written; your unsaved changes are lost'
        ),
        callback: () => void context.revert()
      }
    ]
  });
}
