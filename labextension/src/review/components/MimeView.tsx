import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { PartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { INotebookOutput } from '../tokens';
import { IImageSource } from './ImageDiff';

/** A mime bundle with its metadata, ready for rendermime. */
export interface IMimeBundle {
  data: PartialJSONObject;
  metadata: PartialJSONObject;
}

/**
 * The mime bundle of an nbformat output: streams and errors become the mime types
 * JupyterLab's output area uses for them; multi-line strings are joined.
 */
export function outputBundle(output: INotebookOutput): IMimeBundle {
  switch (output.output_type) {
    case 'stream': {
      const name = output.name === 'stderr' ? 'stderr' : 'stdout';
      return {
        data: { [`application/vnd.jupyter.${name}`]: joined(output.text) },
        metadata: {}
      };
    }
    case 'error': {
      const traceback = Array.isArray(output.traceback)
        ? (output.traceback as string[]).join('\n')
        : `${String(output.ename)}: ${String(output.evalue)}`;
      return {
        data: { 'application/vnd.jupyter.stderr': traceback },
        metadata: {}
      };
    }
    default: {
      const data: PartialJSONObject = {};
      const raw = (output.data ?? {}) as Record<string, unknown>;
      for (const [mime, value] of Object.entries(raw)) {
        data[mime] =
          typeof value === 'string' || Array.isArray(value)
            ? joined(value)
            : (value as PartialJSONObject);
      }
      return {
        data,
        metadata: (output.metadata ?? {}) as PartialJSONObject
      };
    }
  }
}

/** The image of an output as a `data:` URL, or null when it shows no image. */
export function outputImage(output: INotebookOutput): string | null {
  return outputImageSource(output)?.url ?? null;
}

const imageSources = new WeakMap<INotebookOutput, IImageSource | null>();

/**
 * The image an output shows (PNG, JPEG, GIF, WebP, else SVG), or null: one object per
 * output, so that its pixel comparison is asked for once.
 */
export function outputImageSource(
  output: INotebookOutput
): IImageSource | null {
  let source = imageSources.get(output);
  if (source === undefined) {
    source = imageOf(output);
    imageSources.set(output, source);
  }
  return source;
}

function imageOf(output: INotebookOutput): IImageSource | null {
  const data = (output.data ?? {}) as Record<string, unknown>;
  for (const mime of ['image/png', 'image/jpeg', 'image/gif', 'image/webp']) {
    if (data[mime] !== undefined) {
      const base64 = joined(data[mime]).replace(/\s/g, '');
      const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
      return {
        mime,
        url: `data:${mime};base64,${base64}`,
        data: base64,
        bytes: Math.max(0, Math.floor((base64.length * 3) / 4) - padding)
      };
    }
  }
  if (data['image/svg+xml'] !== undefined) {
    const svg = joined(data['image/svg+xml']);
    return {
      mime: 'image/svg+xml',
      url: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`,
      data: svg,
      bytes: new TextEncoder().encode(svg).length
    };
  }
  return null;
}

export interface IMimeViewProps {
  rendermime: IRenderMimeRegistry;
  bundle: IMimeBundle;
  /** What to show when no renderer takes the bundle. */
  fallback: string;
}

/**
 * A bundle rendered by JupyterLab's rendermime, untrusted (as an unsigned notebook
 * is): HTML is sanitized and no script runs.
 */
export function MimeView(props: IMimeViewProps): JSX.Element {
  const { rendermime, bundle, fallback } = props;
  const host = React.useRef<HTMLDivElement>(null);
  const [missing, setMissing] = React.useState(false);

  React.useLayoutEffect(() => {
    const node = host.current;
    const mimeType = rendermime.preferredMimeType(bundle.data, 'ensure');
    if (!node || !mimeType) {
      setMissing(true);
      return;
    }
    setMissing(false);
    const renderer = rendermime.createRenderer(mimeType);
    const model = new MimeModel({
      data: bundle.data,
      metadata: bundle.metadata,
      trusted: false
    });
    Widget.attach(renderer, node);
    renderer.renderModel(model).catch(reason => {
      console.error('jupyter-mlops: could not render an output', reason);
    });
    return () => {
      if (renderer.isAttached) {
        if (renderer.node.isConnected) {
          Widget.detach(renderer);
        } else {
          // React removed the host first (the whole view went away): nothing to detach
          renderer.clearFlag(Widget.Flag.IsAttached);
        }
      }
      renderer.dispose();
    };
  }, [rendermime, bundle]);

  return (
    <div className="jp-mlops-review-mime">
      <div ref={host} />
      {missing && (
        <pre className="jp-mlops-review-mime-missing">{fallback}</pre>
      )}
    </div>
  );
}

function joined(value: unknown): string {
  if (Array.isArray(value)) {
    return value.join('');
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}
