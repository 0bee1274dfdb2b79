import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { JSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { VEGA_LITE } from '../charts';
import { describe } from '../format';

type Renderer = ReturnType<IRenderMimeRegistry['createRenderer']>;

export interface ISparklineProps {
  rendermime: IRenderMimeRegistry;
  /** The Vega-Lite spec. */
  spec: JSONObject;
  /** What to say when the chart cannot be drawn (no Vega-Lite renderer here). */
  fallback: string;
}

/**
 * A Vega-Lite chart drawn by JupyterLab's own renderer (as the Experiments compare
 * view's), without its actions menu. One renderer per chart, drawn again only when
 * the spec changed (a new interval, another deployment, another theme).
 */
export function Sparkline(props: ISparklineProps): JSX.Element {
  const { rendermime, spec, fallback } = props;
  const host = React.useRef<HTMLDivElement>(null);
  const renderer = React.useRef<Renderer | null>(null);
  const [problem, setProblem] = React.useState<string | null>(null);
  const available = React.useMemo(
    () =>
      rendermime.preferredMimeType({ [VEGA_LITE]: {} }, 'any') === VEGA_LITE,
    [rendermime]
  );

  // one renderer for the component's life
  React.useLayoutEffect(() => {
    const node = host.current;
    if (!node || !available) {
      return;
    }
    const widget = rendermime.createRenderer(VEGA_LITE);
    Widget.attach(widget, node);
    renderer.current = widget;
    return () => {
      renderer.current = null;
      if (widget.isAttached) {
        if (widget.node.isConnected) {
          Widget.detach(widget);
        } else {
          // React removed the host first: nothing to detach
          widget.clearFlag(Widget.Flag.IsAttached);
        }
      }
      widget.dispose();
    };
  }, [rendermime, available]);

  const text = React.useMemo(() => JSON.stringify(spec), [spec]);
  React.useEffect(() => {
    const widget = renderer.current;
    if (!widget) {
      return;
    }
    const model = new MimeModel({
      data: { [VEGA_LITE]: JSON.parse(text) as JSONObject },
      metadata: {
        [VEGA_LITE]: { embed_options: { actions: false, renderer: 'svg' } }
      }
    });
    widget
      .renderModel(model)
      .then(() => setProblem(null))
      .catch(reason => setProblem(describe(reason)));
  }, [text, available]);

  return (
    <div className="jp-mlops-monitor-chart">
      <div ref={host} className="jp-mlops-monitor-chart-host" />
      {!available && <span className="jp-mlops-monitor-muted">{fallback}</span>}
      {problem && (
        <span className="jp-mlops-monitor-muted" title={problem}>
          {problem}
        </span>
      )}
    </div>
  );
}
