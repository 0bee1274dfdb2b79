import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

/** The rows of the diff view that hold a change (what the ruler marks). */
export const CHANGED_ROWS = '.jp-mlops-review-row[data-changed]';
const TOP_BAR = '.jp-mlops-review-top';
const WIDTH = 12;
/** Marks this close (pixels on the ruler) are one mark: a run of changed cells. */
const MERGE = 2;

const COLORS: Record<string, string> = {
  added: 'var(--jp-success-color1, #2ea043)',
  removed: 'var(--jp-error-color1, #f85149)',
  moved: 'var(--jp-mlops-review-moved-strong, #8250df)',
  modified: 'var(--jp-warn-color1, #d29922)',
  outputs: 'var(--jp-brand-color1, #1f6feb)'
};

interface IMark {
  /** the first row's place in the rows marked */
  row: number;
  top: number;
  height: number;
  status: string;
  label: string;
  count: number;
}

/** Where the sticky top bar ends: the line a row is scrolled to. */
function topLine(root: HTMLElement): number {
  const header = root.querySelector(TOP_BAR);
  return (
    root.getBoundingClientRect().top +
    (header ? header.getBoundingClientRect().height : 0) +
    2
  );
}

/** The scroll each view is keeping a row in place for (a newer one cancels it). */
const keeping = new WeakMap<HTMLElement, number>();
/** Frames a row is kept in place at most, and how many it must stay put to be done. */
const KEEP_FRAMES = 90;
const STILL_FRAMES = 12;

/**
 * Scroll `row` to just below the top bar, and keep it there while the cells around it
 * render and take their real heights (images decode later than their cells): until it
 * stayed put for a few frames, or the person scrolls themselves.
 */
export function scrollToRow(root: HTMLElement, row: HTMLElement): void {
  const token = (keeping.get(root) ?? 0) + 1;
  keeping.set(root, token);
  let frames = 0;
  let still = 0;
  const stop = (): void => {
    if (keeping.get(root) === token) {
      keeping.set(root, token + 1);
    }
  };
  const events = ['wheel', 'touchmove', 'mousedown'] as const;
  const align = (): void => {
    if (keeping.get(root) !== token || !row.isConnected) {
      events.forEach(name => root.removeEventListener(name, stop));
      return;
    }
    const offset = row.getBoundingClientRect().top - topLine(root);
    if (Math.abs(offset) > 1) {
      root.scrollTop += offset;
      still = 0;
    } else {
      still += 1;
    }
    if (
      ++frames < KEEP_FRAMES &&
      still < STILL_FRAMES &&
      typeof requestAnimationFrame !== 'undefined'
    ) {
      requestAnimationFrame(align);
    } else {
      stop();
      events.forEach(name => root.removeEventListener(name, stop));
    }
  };
  events.forEach(name => root.addEventListener(name, stop, { passive: true }));
  align();
}

/**
 * Scroll to the next (1) or previous (-1) changed cell below or above the top of the
 * view; placeholders of cells not rendered stand in for them, so no output, however big,
 * hides a change below it.
 */
export function jumpToChange(root: HTMLElement, direction: 1 | -1): void {
  const rows = Array.from(root.querySelectorAll<HTMLElement>(CHANGED_ROWS));
  const line = topLine(root);
  const offsets = rows.map(row => row.getBoundingClientRect().top - line);
  const index =
    direction === 1
      ? offsets.findIndex(offset => offset > 1)
      : offsets.map(offset => offset < -1).lastIndexOf(true);
  if (index >= 0) {
    scrollToRow(root, rows[index]);
  }
}

/**
 * The changes ruler beside the scrollbar: a mark where each changed cell is in the whole
 * diff (click: go there), and the part now on screen. It stays in place while the view
 * scrolls (sticky, zero height, at the top of the view).
 */
export function ChangeRuler(props: {
  root: HTMLElement;
  /** changes when the rows do (a new diff, cells folded or unfolded) */
  rowsKey: unknown;
  trans: TranslationBundle;
}): JSX.Element {
  const { root, trans } = props;
  const [marks, setMarks] = React.useState<IMark[]>([]);
  const [box, setBox] = React.useState({ top: 0, height: 0 });
  const [thumb, setThumb] = React.useState({ top: 0, height: 0 });
  const rowsRef = React.useRef<HTMLElement[]>([]);

  React.useEffect(() => {
    let frame = 0;
    const measure = (): void => {
      frame = 0;
      const header = root.querySelector(TOP_BAR);
      const top = header ? header.getBoundingClientRect().height : 0;
      const height = Math.max(root.clientHeight - top, 0);
      const total = Math.max(root.scrollHeight, 1);
      const rootTop = root.getBoundingClientRect().top - root.scrollTop;
      const rows = Array.from(root.querySelectorAll<HTMLElement>(CHANGED_ROWS));
      rowsRef.current = rows;
      const found: IMark[] = [];
      rows.forEach((row, index) => {
        const rect = row.getBoundingClientRect();
        const at = ((rect.top - rootTop) / total) * height;
        const size = Math.max((rect.height / total) * height, 3);
        const status = row.dataset.status ?? 'modified';
        const last = found[found.length - 1];
        if (
          last &&
          last.status === status &&
          at <= last.top + last.height + MERGE
        ) {
          last.height = Math.max(last.height, at + size - last.top);
          last.count += 1;
          return;
        }
        found.push({
          row: index,
          top: at,
          height: size,
          status,
          label: row.dataset.label ?? '',
          count: 1
        });
      });
      setBox(old =>
        old.top === top && old.height === height ? old : { top, height }
      );
      setMarks(found);
      scrolled();
    };
    // scrolling moves only the part on screen; the marks move when heights change
    const scrolled = (): void => {
      const header = root.querySelector(TOP_BAR);
      const height =
        root.clientHeight -
        (header ? header.getBoundingClientRect().height : 0);
      const total = Math.max(root.scrollHeight, 1);
      setThumb({
        top: (root.scrollTop / total) * height,
        height: Math.max((root.clientHeight / total) * height, 4)
      });
    };
    const later = (): void => {
      if (!frame) {
        frame = requestAnimationFrame(measure);
      }
    };
    let scrollFrame = 0;
    const onScroll = (): void => {
      if (!scrollFrame) {
        scrollFrame = requestAnimationFrame(() => {
          scrollFrame = 0;
          scrolled();
        });
      }
    };
    measure();
    const resize = new ResizeObserver(later);
    resize.observe(root);
    const cells = root.querySelector('.jp-mlops-review-cells');
    if (cells) {
      resize.observe(cells);
    }
    root.addEventListener('scroll', onScroll, { passive: true });
    return () => {
      resize.disconnect();
      root.removeEventListener('scroll', onScroll);
      cancelAnimationFrame(frame);
      cancelAnimationFrame(scrollFrame);
    };
  }, [root, props.rowsKey]);

  const total = marks.reduce((sum, mark) => sum + mark.count, 0);
  return (
    <div
      className="jp-mlops-review-rulerTrack"
      style={{ position: 'sticky', top: 0, height: 0, zIndex: 3 }}
    >
      <div
        className="jp-mlops-review-ruler"
        role="navigation"
        aria-label={trans._n('%1 change', '%1 changes', total)}
        data-changes={total}
        title={trans.__('Changes in this diff: click one to go there')}
        style={{
          position: 'absolute',
          right: -16,
          top: box.top,
          width: WIDTH,
          height: box.height,
          background: 'var(--jp-layout-color2)',
          borderLeft: 'var(--jp-border-width) solid var(--jp-border-color2)',
          cursor: 'pointer'
        }}
        onClick={event => {
          // a click between marks: that part of the diff
          const rect = event.currentTarget.getBoundingClientRect();
          const share = (event.clientY - rect.top) / Math.max(rect.height, 1);
          root.scrollTop = share * root.scrollHeight - root.clientHeight / 2;
        }}
      >
        <div
          className="jp-mlops-review-rulerThumb"
          style={{
            position: 'absolute',
            left: 0,
            right: 0,
            top: thumb.top,
            height: thumb.height,
            background: 'var(--jp-layout-color4)',
            opacity: 0.35,
            pointerEvents: 'none'
          }}
        />
        {marks.map(mark => (
          <button
            key={`${mark.row}:${mark.status}`}
            type="button"
            className="jp-mlops-review-rulerMark"
            data-status={mark.status}
            data-row={mark.row}
            title={
              mark.count > 1
                ? trans.__('%1 (and %2 more)', mark.label, mark.count - 1)
                : mark.label
            }
            aria-label={mark.label}
            style={{
              position: 'absolute',
              left: 1,
              right: 1,
              top: mark.top,
              height: mark.height,
              minHeight: 3,
              padding: 0,
              border: 0,
              borderRadius: 1,
              background: COLORS[mark.status] ?? COLORS.modified,
              cursor: 'pointer'
            }}
            onClick={event => {
              event.stopPropagation();
              const row = rowsRef.current[mark.row];
              if (row) {
                scrollToRow(root, row);
              }
            }}
          />
        ))}
      </div>
    </div>
  );
}
