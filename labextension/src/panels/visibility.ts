import { Message, MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

/** What works only while a widget is on screen: a poll, a model that fetches. */
export interface IActivatable {
  active: boolean;
}

/**
 * Tells `target` whether `widget` is on screen: active once it is attached while
 * visible or shown, inactive as soon as it is hidden or detached (a collapsed
 * sidebar section, another sidebar tab, a closed sidebar, a disposed panel). One
 * message hook serves every panel instead of four overridden handlers in each.
 */
export function activeWhileVisible(widget: Widget, target: IActivatable): void {
  MessageLoop.installMessageHook(widget, (_, msg: Message) => {
    switch (msg.type) {
      case 'before-hide':
      case 'before-detach':
        target.active = false;
        break;
      case 'after-show':
      case 'after-attach':
        // the hook runs before the widget handles the message: read its
        // visibility once Lumino has updated it
        void Promise.resolve().then(() => {
          if (!widget.isDisposed) {
            target.active = widget.isVisible;
          }
        });
        break;
    }
    return true;
  });
}
