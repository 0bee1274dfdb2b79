import * as React from 'react';

/**
 * One IntersectionObserver for a scrolling view: blocks register themselves and are
 * told once when they come within `margin` pixels of the visible part.
 */
export class LazyObserver {
  constructor(root: HTMLElement | null, margin = 800) {
    if (typeof IntersectionObserver === 'undefined') {
      this._observer = null;
      return;
    }
    this._observer = new IntersectionObserver(
      entries => {
        for (const entry of entries) {
          if (entry.isIntersecting) {
            const callback = this._callbacks.get(entry.target);
            this.unobserve(entry.target);
            callback?.();
          }
        }
      },
      { root, rootMargin: `${margin}px 0px` }
    );
  }

  /** Call `visible` once `node` nears the view (at once without IntersectionObserver). */
  observe(node: Element, visible: () => void): void {
    if (!this._observer) {
      visible();
      return;
    }
    this._callbacks.set(node, visible);
    this._observer.observe(node);
  }

  unobserve(node: Element): void {
    this._callbacks.delete(node);
    this._observer?.unobserve(node);
  }

  dispose(): void {
    this._observer?.disconnect();
    this._callbacks.clear();
  }

  private readonly _observer: IntersectionObserver | null;
  private readonly _callbacks = new Map<Element, () => void>();
}

export const LazyContext = React.createContext<LazyObserver | null>(null);

/**
 * Its children once it scrolled near the view (and from then on); before that, an
 * empty block of about their height, so a long diff renders only what is seen.
 */
export function LazyBlock(props: {
  eager: boolean;
  estimatedHeight: number;
  children: () => React.ReactNode;
}): JSX.Element {
  const observer = React.useContext(LazyContext);
  const [shown, setShown] = React.useState(props.eager || observer === null);
  const placeholder = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    const node = placeholder.current;
    if (shown || !observer || !node) {
      return;
    }
    observer.observe(node, () => setShown(true));
    return () => observer.unobserve(node);
  }, [shown, observer]);
  if (shown) {
    return <>{props.children()}</>;
  }
  return (
    <div
      ref={placeholder}
      className="jp-mlops-review-placeholder"
      style={{ height: `${props.estimatedHeight}px` }}
    />
  );
}
