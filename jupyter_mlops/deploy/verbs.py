"""``%mlops deploy|deployments|predict|rollback|undeploy|logs`` and the same CLI verbs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from ..verb import Context, UsageError
from ..config import load_config
from . import core
from .state import TARGETS

Progress = Callable[[str], None]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text!r}")
    return value


def _percent(text: str) -> int:
    value = _positive_int(text)
    if value > 99:
        raise argparse.ArgumentTypeError(f"a canary is 1-99 % of the traffic, not {text!r}")
    return value


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


# ---------------------------------------------------------------------------- progress


class ProgressView:
    """A live list of steps in the notebook (one display, updated in place)."""

    def __init__(self, title: str) -> None:
        from IPython.display import display

        self.title = title
        self.lines: list[tuple[float, str]] = []
        self.began = time.monotonic()
        self.handle = display(self, display_id=True)  # type: ignore[no-untyped-call]

    def __call__(self, message: str) -> None:
        self.lines.append((time.monotonic() - self.began, message))
        if self.handle is not None:
            self.handle.update(self)

    def __repr__(self) -> str:
        return "\n".join([self.title, *(f"  {t:5.1f}s  {m}" for t, m in self.lines)])

    def _repr_html_(self) -> str:
        items = "".join(f'<li><span style="opacity:.6">{t:5.1f}s</span> {escape(m)}</li>'
                        for t, m in self.lines)
        return (f'<div class="mlops-progress" style="font-size: 12px"><b>{escape(self.title)}'
                f'</b><ul style="margin: 2px 0">{items}</ul></div>')


def progress_for(ctx: Context, title: str) -> Progress:
    if ctx.adapter == "magic":
        try:
            return ProgressView(title)
        except ImportError:  # pragma: no cover - the magic always has IPython
            pass

    def to_stderr(message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)

    print(title, file=sys.stderr, flush=True)
    return to_stderr


class Message(str):
    """A line of text that Jupyter shows as text (no quotes)."""

    def __repr__(self) -> str:
        return str(self)


def _as_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


# ---------------------------------------------------------------------------- deploy


def configure_deploy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="run id, runs:/RUN/PATH, models:/NAME/VERSION or "
                        "models:/NAME@ALIAS")
    parser.add_argument("--target", choices=TARGETS, default=None,
                        help="where to serve (default: deploy.target, 'local')")
    parser.add_argument("--name", default=None,
                        help="deployment name (default: from the model); an existing name "
                        "gets a new version, health-checked before it takes traffic")
    parser.add_argument("--gpu", default=None, metavar="GPU",
                        help="local: auto (default), none, or a CUDA index; kserve: GPUs per "
                        "replica")
    parser.add_argument("--canary", type=_percent, default=None, metavar="N",
                        help="send N%% of the traffic to the new version (the old keeps the "
                        "rest); 'rollback' drops it")
    parser.add_argument("--instance-type", default=None,
                        help="SageMaker instance type (default ml.g4dn.xlarge, a T4 GPU)")
    parser.add_argument("--replicas", type=_positive_int, default=1,
                        help="KServe/SageMaker replicas (at least 1)")
    parser.add_argument("--port", type=_positive_int, default=None,
                        help="local port (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="local address to listen on (default loopback only)")
    parser.add_argument("--max-batch-size", type=_positive_int,
                        default=core.DEFAULT_MAX_BATCH_SIZE, help="rows per batch (default 64)")
    parser.add_argument("--max-wait-ms", type=float, default=core.DEFAULT_MAX_WAIT_MS,
                        help="how long a request may wait for a batch to fill (default 2)")
    parser.add_argument("--max-queue", type=_positive_int, default=core.DEFAULT_MAX_QUEUE,
                        help="requests waiting before new ones get 503 (default 1024)")
    parser.add_argument("--namespace", default="default", help="KServe namespace")
    parser.add_argument("--dry-run", action="store_true",
                        help="kserve: write the InferenceService YAML, apply nothing")
    parser.add_argument("--timeout", type=float, default=core.DEFAULT_TIMEOUT_S,
                        help="seconds to wait for the endpoint to be healthy (default 600)")
    _json_flag(parser)


def run_deploy(args: argparse.Namespace, ctx: Context) -> Any:
    progress = progress_for(ctx, f"deploying {args.model}")
    deployment = core.deploy(
        args.model, target=args.target, name=args.name, gpu=args.gpu,
        instance_type=args.instance_type, replicas=args.replicas,
        max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms, canary=args.canary,
        max_queue=args.max_queue, port=args.port, host=args.host, namespace=args.namespace,
        dry_run=args.dry_run, timeout=args.timeout, progress=progress, cwd=ctx.cwd)
    if args.dry_run and ctx.adapter == "cli" and not args.json:
        print(deployment.details.get("yaml", ""))
        return Message(f"# written to {deployment.details.get('manifest')}" + (
            f"\n# note: {deployment.message}" if deployment.message else ""))
    return _as_json(deployment.to_dict()) if args.json else deployment


# ---------------------------------------------------------------------------- the others


def configure_deployments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-check", action="store_true",
                        help="list the recorded state without asking each endpoint")
    _json_flag(parser)


def run_deployments(args: argparse.Namespace, ctx: Context) -> Any:
    found = core.deployments(check=not args.no_check, cwd=ctx.cwd)
    return _as_json(found.to_dicts()) if args.json else found


def configure_predict(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="deployment name")
    parser.add_argument("data", help="%%mlops: a variable (DataFrame, array, records); CLI: a "
                        ".json (an MLflow payload or records) or .csv file")
    _json_flag(parser)


def _load_data(args: argparse.Namespace, ctx: Context) -> Any:
    if ctx.adapter == "magic":
        namespace = ctx.namespace or {}
        if args.data not in namespace:
            raise UsageError(f"no variable '{args.data}' in the notebook: pass the name of a "
                             "DataFrame, array or list of records")
        return namespace[args.data]
    path = Path(ctx.cwd, args.data).expanduser()
    if not path.is_file():
        raise UsageError(f"no such file: {args.data} (a .json or .csv file)")
    if path.suffix.lower() == ".csv":
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]

        return pd.read_csv(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{args.data} is not valid JSON ({exc})") from None


def run_predict(args: argparse.Namespace, ctx: Context) -> Any:
    frame = core.predict(args.name, _load_data(args, ctx), cwd=ctx.cwd)
    if args.json:
        return frame.to_json(orient="records")
    return frame


def configure_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="deployment name")
    _json_flag(parser)


def run_rollback(args: argparse.Namespace, ctx: Context) -> Any:
    progress = progress_for(ctx, f"rolling back {args.name}")
    deployment = core.rollback(args.name, progress=progress, cwd=ctx.cwd)
    return _as_json(deployment.to_dict()) if args.json else deployment


def run_undeploy(args: argparse.Namespace, ctx: Context) -> Any:
    deployment = core.undeploy(args.name, cwd=ctx.cwd)
    if args.json:
        return _as_json({"name": deployment.name, "removed": True})
    return Message(f"{deployment.name}: stopped and removed ({deployment.target})")


def configure_logs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="deployment name")
    parser.add_argument("--lines", type=_positive_int, default=100,
                        help="last lines of each log (default 100)")
    _json_flag(parser)


def run_logs(args: argparse.Namespace, ctx: Context) -> Any:
    found = core.logs(args.name, args.lines, cwd=ctx.cwd)
    return _as_json(found.to_dict()) if args.json else found


CONFIGURE: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "deploy": configure_deploy, "deployments": configure_deployments,
    "predict": configure_predict, "rollback": configure_name, "undeploy": configure_name,
    "logs": configure_logs,
}
RUN: dict[str, Callable[[argparse.Namespace, Context], Any]] = {
    "deploy": run_deploy, "deployments": run_deployments, "predict": run_predict,
    "rollback": run_rollback, "undeploy": run_undeploy, "logs": run_logs,
}


def configure(verb: str, parser: argparse.ArgumentParser) -> None:
    CONFIGURE[verb](parser)


def run(verb: str, args: argparse.Namespace, ctx: Context) -> Any:
    load_config(ctx.cwd)  # a broken config is reported before anything starts
    return RUN[verb](args, ctx)
