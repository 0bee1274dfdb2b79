import * as React from 'react';

/** Blocks render when they come this near (pixels) to the visible part… */
const NEAR = 800;
/** …and give their content back (keeping their height) when they go this far. */
const FAR = 1600;

/**
 * The IntersectionObservers of a scrolling view: blocks register themselves and are told
 * when they come within `near` pixels of the visible part, and when they go further than
 * `far` pixels away, so only what is on screen (and about a screen around it) is rendered.
 */
export class LazyObserver {
  constructor(root: HTMLElement | null, near = NEAR, far = FAR) {
    if (typeof IntersectionObserver === 'undefined') {
      this._near = this._far = null;
      return;
    }
    this._near = new IntersectionObserver(
      entries => {
        for (const entry of entries) {
          if (entry.isIntersecting) {
            this._callbacks.get(entry.target)?.(true);
          }
        }
      },
      { root, rootMargin: `${near}px 0px` }
    );
    this._far = new IntersectionObserver(
      entries => {
        for (const entry of entries) {
          if (!entry.isIntersecting) {
            this._callbacks.get(entry.target)?.(false);
          }
        }
      },
      { root, rootMargin: `${Math.max(far, near)}px 0px` }
    );
  }

  /**
   * Call `change(true)` whenever `node` nears the view, `change(false)` whenever it goes
   * far from it (at once `change(true)`, and never false, without IntersectionObserver).
   */
  observe(node: Element, change: (near: boolean) => void): void {
    if (!this._near || !this._far) {
      change(true);
      return;
    }
    this._callbacks.set(node, change);
    this._near.observe(node);
    this._far.observe(node);
  }

  unobserve(node: Element): void {
    this._callbacks.delete(node);
    this._near?.unobserve(node);
    this._far?.unobserve(node);
  }

  dispose(): void {
    this._near?.disconnect();
    this._far?.disconnect();
    this._callbacks.clear();
  }

  private readonly _near: IntersectionObserver | null;
  private readonly _far: IntersectionObserver | null;
  private readonly _callbacks = new Map<Element, (near: boolean) => void>();
}

export const LazyContext = React.createContext<LazyObserver | null>(null);

/**
 * Its children while it is near the view; otherwise an empty block of their height (as
 * last seen, else as estimated), so a long diff renders only what is on screen. A block
 * being written in (a comment editor open, the focus inside) stays.
 */
export function LazyBlock(props: {
  eager: boolean;
  estimatedHeight: number;
  children: () => React.ReactNode;
}): JSX.Element {
  const observer = React.useContext(LazyContext);
  const [shown, setShown] = React.useState(props.eager || observer === null);
  const box = React.useRef<HTMLDivElement>(null);
  const height = React.useRef<number | null>(null);
  React.useEffect(() => {
    const node = box.current;
    if (!observer || !node) {
      return;
    }
    observer.observe(node, near => {
      if (near) {
        setShown(true);
      } else if (!inUse(node)) {
        const seen = node.getBoundingClientRect().height;
        if (seen > 0) {
          height.current = seen;
        }
        setShown(false);
      }
    });
    return () => observer.unobserve(node);
  }, [observer]);
  return (
    <div ref={box} className="jp-mlops-review-lazy">
      {shown ? (
        props.children()
      ) : (
        <div
          className="jp-mlops-review-placeholder"
          style={{
            height: `${height.current ?? props.estimatedHeight}px`,
            boxSizing: 'border-box'
          }}
        />
      )}
    </div>
  );
}

/** Someone is working in it: the focus is inside, or a comment is being written. */
function inUse(node: Element): boolean {
  return (
    node.contains(document.activeElement) ||
    node.querySelector('textarea, .jp-mlops-review-editor') !== null
  );
}
