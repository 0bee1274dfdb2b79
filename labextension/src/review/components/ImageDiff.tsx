import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { requestAPI } from '../../handler';

/** An image of an output, as the diff view shows and compares it. */
export interface IImageSource {
  /** The output's mime type: image/png, image/jpeg, image/gif, image/webp, image/svg+xml. */
  mime: string;
  /** A `data:` URL of the image. */
  url: string;
  /** The image's base64 (raster) or its markup (SVG). */
  data: string;
  /** The size of the encoded image in bytes. */
  bytes: number;
}

/** One side of a pixel comparison. */
export interface IImageInfo {
  width: number;
  height: number;
  bytes: number;
  format: string;
  animated: boolean;
}

/** The answer of POST review/image-diff. */
export interface IImageDiffReply {
  pixels_equal: boolean;
  changed_share: number;
  changed_pixels: number;
  same_size: boolean;
  canvas: { width: number; height: number };
  changed_box: [number, number, number, number] | null;
  tolerance: number;
  before: IImageInfo;
  after: IImageInfo;
  /** A PNG (base64): the newer image faded to grey, changed pixels in magenta. */
  diff_png?: string;
}

export type ImageMode = 'side-by-side' | 'swipe' | 'onion-skin' | 'pixels';

/** The mime types the server decodes itself; any other image is rasterised here. */
const SERVER_DECODES = ['image/png', 'image/jpeg', 'image/gif'];
/** The longest side an image rasterised in the browser gets, in pixels. */
const MAX_RASTER_SIDE = 4096;

const comparisons = new WeakMap<
  IImageSource,
  WeakMap<IImageSource, Promise<IImageDiffReply>>
>();

/**
 * The pixel comparison of two images, asked of the server once per pair of sources
 * (a view scrolled away and back asks nothing again). SVG and WebP are rasterised on a
 * canvas first and sent as PNG; the sizes in bytes stay those of the originals.
 */
export function compareImages(
  before: IImageSource,
  after: IImageSource
): Promise<IImageDiffReply> {
  let known = comparisons.get(before);
  if (!known) {
    known = new WeakMap();
    comparisons.set(before, known);
  }
  let reply = known.get(after);
  if (!reply) {
    reply = requestComparison(before, after);
    known.set(after, reply);
    // a failure is asked again next time (the server may have been restarted)
    reply.catch(() => known?.delete(after));
  }
  return reply;
}

async function requestComparison(
  before: IImageSource,
  after: IImageSource
): Promise<IImageDiffReply> {
  const direct =
    SERVER_DECODES.includes(before.mime) && SERVER_DECODES.includes(after.mime);
  const [old, next] = direct
    ? [before.data, after.data]
    : await Promise.all([rasterise(before), rasterise(after)]);
  const reply = await requestAPI<IImageDiffReply>('review/image-diff', {
    method: 'POST',
    body: JSON.stringify({
      mime: direct ? after.mime : 'image/png',
      before: old,
      after: next
    })
  });
  return {
    ...reply,
    before: described(reply.before, before),
    after: described(reply.after, after)
  };
}

function described(info: IImageInfo, source: IImageSource): IImageInfo {
  if (SERVER_DECODES.includes(source.mime)) {
    return info;
  }
  const format = source.mime === 'image/svg+xml' ? 'SVG' : 'WEBP';
  return { ...info, bytes: source.bytes, format };
}

/** The image drawn on a canvas at its own size (at most `MAX_RASTER_SIDE`), as PNG base64. */
async function rasterise(source: IImageSource): Promise<string> {
  const image = new Image();
  image.src = source.url;
  try {
    await image.decode();
  } catch {
    throw new Error(
      `The ${source.mime} image cannot be drawn in this browser.`
    );
  }
  // an SVG without a size of its own draws at the browser's default, 300 x 150
  let width = image.naturalWidth || 300;
  let height = image.naturalHeight || 150;
  const scale = Math.min(1, MAX_RASTER_SIDE / Math.max(width, height));
  width = Math.max(1, Math.round(width * scale));
  height = Math.max(1, Math.round(height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d');
  if (!context) {
    throw new Error('This browser cannot draw images on a canvas.');
  }
  context.drawImage(image, 0, 0, width, height);
  const url = canvas.toDataURL('image/png');
  return url.slice(url.indexOf(',') + 1);
}

type PixelState =
  | { state: 'loading' }
  | { state: 'done'; reply: IImageDiffReply }
  | { state: 'error'; message: string };

/** The pixel comparison of two sources, asked for when the component first renders. */
function usePixels(before: IImageSource, after: IImageSource): PixelState {
  const [pixels, setPixels] = React.useState<PixelState>({ state: 'loading' });
  React.useEffect(() => {
    let current = true;
    setPixels({ state: 'loading' });
    compareImages(before, after).then(
      reply => current && setPixels({ state: 'done', reply }),
      (error: unknown) =>
        current &&
        setPixels({
          state: 'error',
          message: error instanceof Error ? error.message : String(error)
        })
    );
    return () => {
      current = false;
    };
  }, [before, after]);
  return pixels;
}

/** Natural sizes of two images, once both are loaded (null before). */
function useSizes(
  before: string,
  after: string
): { before: [number, number]; after: [number, number] } | null {
  const [sizes, setSizes] = React.useState<{
    before: [number, number];
    after: [number, number];
  } | null>(null);
  React.useEffect(() => {
    let current = true;
    setSizes(null);
    const load = (url: string) =>
      new Promise<[number, number]>(resolve => {
        const image = new Image();
        image.onload = () =>
          resolve([image.naturalWidth || 300, image.naturalHeight || 150]);
        image.onerror = () => resolve([300, 150]);
        image.src = url;
      });
    void Promise.all([load(before), load(after)]).then(([b, a]) => {
      if (current) {
        setSizes({ before: b, after: a });
      }
    });
    return () => {
      current = false;
    };
  }, [before, after]);
  return sizes;
}

export interface IImageDiffProps {
  before: IImageSource;
  after: IImageSource;
  /** A control shown at the end of the mode bar (the output's comment button). */
  comment?: React.ReactNode;
  trans: TranslationBundle;
}

/**
 * A changed image output: side by side, swipe (a slider moving the border between the
 * image before, left, and after, right), onion skin (the image after over the one before,
 * its opacity on a slider) and pixel difference (the changed pixels highlighted, with
 * their share and the size change). The pixel comparison is asked of the server when the
 * output is first rendered; the bar shows its result in every mode.
 */
export function ImageDiff(props: IImageDiffProps): JSX.Element {
  const { before, after, trans } = props;
  const [mode, setMode] = React.useState<ImageMode>('side-by-side');
  const pixels = usePixels(before, after);
  const modes: [ImageMode, string][] = [
    ['side-by-side', trans.__('Side by side')],
    ['swipe', trans.__('Swipe')],
    ['onion-skin', trans.__('Onion skin')],
    ['pixels', trans.__('Pixel difference')]
  ];
  return (
    <div
      className="jp-mlops-review-images"
      data-mode={mode}
      data-pixels={
        pixels.state === 'done'
          ? pixels.reply.pixels_equal
            ? 'equal'
            : 'changed'
          : pixels.state
      }
    >
      <div className="jp-mlops-review-imagesBar" role="radiogroup">
        {modes.map(([value, label]) => (
          <label key={value}>
            <input
              type="radio"
              value={value}
              checked={mode === value}
              onChange={() => setMode(value)}
            />
            {label}
          </label>
        ))}
        <span className="jp-mlops-review-spacer" />
        <PixelBadge pixels={pixels} trans={trans} />
        {props.comment}
      </div>
      {mode === 'side-by-side' && (
        <div className="jp-mlops-review-outputPair">
          <div className="jp-mlops-review-outputSide" data-side="base">
            <img src={before.url} alt={trans.__('Image before')} />
          </div>
          <div className="jp-mlops-review-outputSide" data-side="head">
            <img src={after.url} alt={trans.__('Image after')} />
          </div>
        </div>
      )}
      {(mode === 'swipe' || mode === 'onion-skin') && (
        <Overlay mode={mode} before={before} after={after} trans={trans} />
      )}
      {mode === 'pixels' && (
        <PixelView pixels={pixels} after={after} trans={trans} />
      )}
    </div>
  );
}

/** The pixel comparison in a few words, for the mode bar. */
function PixelBadge(props: {
  pixels: PixelState;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { pixels, trans } = props;
  if (pixels.state !== 'done') {
    return null;
  }
  const { reply } = pixels;
  return (
    <span
      className="jp-mlops-review-pixelsBadge"
      data-equal={String(reply.pixels_equal)}
    >
      {reply.pixels_equal
        ? trans.__('pixels unchanged')
        : trans.__('%1% of pixels changed', percent(reply.changed_share))}
    </span>
  );
}

/** Both images in one place: swipe or onion skin, on the canvas both fit. */
function Overlay(props: {
  mode: 'swipe' | 'onion-skin';
  before: IImageSource;
  after: IImageSource;
  trans: TranslationBundle;
}): JSX.Element {
  const { mode, before, after, trans } = props;
  const [reveal, setReveal] = React.useState(50);
  const [opacity, setOpacity] = React.useState(50);
  const sizes = useSizes(before.url, after.url);
  const width = sizes ? Math.max(sizes.before[0], sizes.after[0]) : null;
  const height = sizes ? Math.max(sizes.before[1], sizes.after[1]) : null;
  // each image on a layer over the whole canvas, at its top left, scaled as the canvas is
  const layer = (
    source: IImageSource,
    size: [number, number] | undefined,
    alt: string,
    className = '',
    style: React.CSSProperties = {}
  ): JSX.Element => (
    <div
      className={`jp-mlops-review-imageLayer ${className}`.trim()}
      style={style}
    >
      <img
        src={source.url}
        alt={alt}
        style={{
          width: size && width ? `${(100 * size[0]) / width}%` : '100%'
        }}
      />
    </div>
  );
  const stage: React.CSSProperties =
    width && height
      ? { width: `${width}px`, aspectRatio: `${width} / ${height}` }
      : {};
  const swipe = mode === 'swipe';
  return (
    <div className={swipe ? 'jp-mlops-review-swipe' : 'jp-mlops-review-onion'}>
      <div className="jp-mlops-review-swipeStage" style={stage}>
        {swipe ? (
          <>
            {layer(after, sizes?.after, trans.__('Image after'))}
            {layer(
              before,
              sizes?.before,
              trans.__('Image before'),
              'jp-mlops-review-swipeBase',
              { clipPath: `inset(0 ${100 - reveal}% 0 0)` }
            )}
            <div
              className="jp-mlops-review-swipeHandle"
              style={{ left: `${reveal}%` }}
            />
          </>
        ) : (
          <>
            {layer(before, sizes?.before, trans.__('Image before'))}
            {layer(
              after,
              sizes?.after,
              trans.__('Image after'),
              'jp-mlops-review-onionAfter',
              { opacity: opacity / 100 }
            )}
          </>
        )}
      </div>
      <input
        type="range"
        min={0}
        max={100}
        value={swipe ? reveal : opacity}
        aria-label={
          swipe
            ? trans.__('How much of the image before to show')
            : trans.__('Opacity of the image after')
        }
        onChange={event =>
          (swipe ? setReveal : setOpacity)(Number(event.target.value))
        }
      />
      <div className="jp-mlops-review-swipeLegend">
        <span>{trans.__('before')}</span>
        <span>{trans.__('after')}</span>
      </div>
    </div>
  );
}

/** The highlighted changed pixels, their share and the size change. */
function PixelView(props: {
  pixels: PixelState;
  after: IImageSource;
  trans: TranslationBundle;
}): JSX.Element {
  const { pixels, after, trans } = props;
  if (pixels.state === 'loading') {
    return (
      <div className="jp-mlops-review-pixels" data-state="loading">
        {trans.__('Comparing the pixels…')}
      </div>
    );
  }
  if (pixels.state === 'error') {
    return (
      <div className="jp-mlops-review-pixels" data-state="error">
        <span className="jp-mlops-review-error">
          {trans.__('No pixel comparison: %1', pixels.message)}
        </span>
      </div>
    );
  }
  const { reply } = pixels;
  const box = reply.changed_box;
  const { width, height } = reply.canvas;
  return (
    <div className="jp-mlops-review-pixels" data-state="done">
      <div className="jp-mlops-review-pixelsShare">
        {reply.pixels_equal
          ? trans.__('Pixels unchanged (metadata/encoding only)')
          : trans.__(
              '%1% of pixels changed (%2 of %3)',
              percent(reply.changed_share),
              reply.changed_pixels.toLocaleString(),
              (width * height).toLocaleString()
            )}
      </div>
      <div className="jp-mlops-review-pixelsSize">
        {sizeChange(reply, trans)}
      </div>
      {!reply.same_size && (
        <div className="jp-mlops-review-pixelsNote">
          {trans.__(
            'The sizes differ: compared on a %1 × %2 canvas, both images at its top left.',
            width,
            height
          )}
        </div>
      )}
      {(reply.before.animated || reply.after.animated) && (
        <div className="jp-mlops-review-pixelsNote">
          {trans.__('An animated GIF: its first frame is compared.')}
        </div>
      )}
      <div
        className="jp-mlops-review-swipeStage jp-mlops-review-pixelsStage"
        style={{ width: `${width}px`, aspectRatio: `${width} / ${height}` }}
      >
        {reply.diff_png ? (
          <img
            className="jp-mlops-review-pixelsImage"
            src={`data:image/png;base64,${reply.diff_png}`}
            alt={trans.__('Changed pixels highlighted')}
          />
        ) : (
          <img src={after.url} alt={trans.__('Image after')} />
        )}
        {box && (
          <div
            className="jp-mlops-review-pixelsBox"
            title={trans.__('Where the changed pixels are')}
            style={{
              left: `${(100 * box[0]) / width}%`,
              top: `${(100 * box[1]) / height}%`,
              width: `${(100 * (box[2] - box[0])) / width}%`,
              height: `${(100 * (box[3] - box[1])) / height}%`
            }}
          />
        )}
      </div>
    </div>
  );
}

function sizeChange(reply: IImageDiffReply, trans: TranslationBundle): string {
  const { before, after } = reply;
  const pixels = (info: IImageInfo) => `${info.width} × ${info.height}`;
  const dimensions =
    before.width === after.width && before.height === after.height
      ? trans.__('%1 pixels', pixels(after))
      : trans.__('%1 → %2 pixels', pixels(before), pixels(after));
  const delta = after.bytes - before.bytes;
  const sign = delta > 0 ? '+' : delta < 0 ? '−' : '±';
  return trans.__(
    '%1 · %2 → %3 (%4%5)',
    dimensions,
    byteSize(before.bytes),
    byteSize(after.bytes),
    sign,
    byteSize(Math.abs(delta))
  );
}

/** A share as a percentage a reader can compare: 12, 3.4, 0.25, <0.01 (never 100 unless all). */
export function percent(share: number): string {
  const value = share * 100;
  if (value <= 0) {
    return '0';
  }
  if (value < 0.01) {
    return '<0.01';
  }
  if (value < 1) {
    return value.toFixed(2);
  }
  if (value < 10) {
    return value.toFixed(1);
  }
  if (value < 99.5) {
    return value.toFixed(0);
  }
  return value < 100 ? (Math.floor(value * 10) / 10).toFixed(1) : '100';
}

function byteSize(bytes: number): string {
  if (bytes < 1024) {
    return `${bytes} B`;
  }
  if (bytes < 1024 * 1024) {
    return `${(bytes / 1024).toFixed(1)} KB`;
  }
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
