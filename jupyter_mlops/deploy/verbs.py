"""``%mlops deploy|deployments|predict|rollback|undeploy|logs`` and the same CLI verbs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import load_config
from ..verb import Context, UsageError, positive_int
from . import core
from .state import TARGETS

if TYPE_CHECKING:
    from .state import Deployment


def _percent(text: str) -> int:
    value = positive_int(text)
    if value > 99:
        raise argparse.ArgumentTypeError(f"a canary is 1-99 % of the traffic, not {text!r}")
    return value


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


# ---------------------------------------------------------------------------- results


@dataclass
class DryRun:
    """``deploy --dry-run``: the deployment that would be made, and the manifest written for
    it (a terminal shows the manifest, a notebook the deployment)."""

    deployment: Deployment

    def to_dict(self) -> dict[str, Any]:
        return self.deployment.to_dict()

    def to_text(self) -> str:
        details = self.deployment.details
        note = f"\n# note: {self.deployment.message}" if self.deployment.message else ""
        return f"{details.get('yaml', '')}\n# written to {details.get('manifest')}{note}"


@dataclass
class Undeployed:
    """``undeploy``: which deployment is gone, and from where."""

    name: str
    target: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "removed": True}

    def __str__(self) -> str:
        return f"{self.name}: stopped and removed ({self.target})"

    def __repr__(self) -> str:  # a notebook shows it as the line it is
        return str(self)


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
    parser.add_argument("--replicas", type=positive_int, default=1,
                        help="KServe/SageMaker replicas (at least 1)")
    parser.add_argument("--port", type=positive_int, default=None,
                        help="local port (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="local address to listen on (default loopback only)")
    parser.add_argument("--max-batch-size", type=positive_int,
                        default=core.DEFAULT_MAX_BATCH_SIZE, help="rows per batch (default 64)")
    parser.add_argument("--max-wait-ms", type=float, default=core.DEFAULT_MAX_WAIT_MS,
                        help="how long a request may wait for a batch to fill (default 2)")
    parser.add_argument("--max-queue", type=positive_int, default=core.DEFAULT_MAX_QUEUE,
                        help="requests waiting before new ones get 503 (default 1024)")
    parser.add_argument("--namespace", default="default", help="KServe namespace")
    parser.add_argument("--dry-run", action="store_true",
                        help="kserve: write the InferenceService YAML, apply nothing")
    parser.add_argument("--timeout", type=float, default=core.DEFAULT_TIMEOUT_S,
                        help="seconds to wait for the endpoint to be healthy (default 600)")
    _json_flag(parser)


def run_deploy(args: argparse.Namespace, ctx: Context) -> Deployment | DryRun:
    progress = ctx.progress(f"deploying {args.model}")
    deployment = core.deploy(
        args.model, target=args.target, name=args.name, gpu=args.gpu,
        instance_type=args.instance_type, replicas=args.replicas,
        max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms, canary=args.canary,
        max_queue=args.max_queue, port=args.port, host=args.host, namespace=args.namespace,
        dry_run=args.dry_run, timeout=args.timeout, progress=progress, cwd=ctx.cwd)
    progress.close(deployment)
    return DryRun(deployment) if args.dry_run else deployment


# ---------------------------------------------------------------------------- the others


def configure_deployments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-check", action="store_true",
                        help="list the recorded state without asking each endpoint")
    _json_flag(parser)


def run_deployments(args: argparse.Namespace, ctx: Context) -> Any:
    return core.deployments(check=not args.no_check, cwd=ctx.cwd)


def configure_predict(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="deployment name")
    parser.add_argument("data", help="%%mlops: a variable (DataFrame, array, records); CLI: a "
                        ".json (an MLflow payload or records) or .csv file")
    _json_flag(parser)


def _load_data(args: argparse.Namespace, ctx: Context) -> Any:
    if ctx.namespace is not None:  # a notebook: data is a variable
        namespace = ctx.namespace
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
    return core.predict(args.name, _load_data(args, ctx), cwd=ctx.cwd)


def configure_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="deployment name")
    _json_flag(parser)


def run_rollback(args: argparse.Namespace, ctx: Context) -> Deployment:
    progress = ctx.progress(f"rolling back {args.name}")
    deployment = core.rollback(args.name, progress=progress, cwd=ctx.cwd)
    progress.close(deployment)
    return deployment


def run_undeploy(args: argparse.Namespace, ctx: Context) -> Undeployed:
    deployment = core.undeploy(args.name, cwd=ctx.cwd)
    return Undeployed(deployment.name, deployment.target)


def configure_logs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="deployment name")
    parser.add_argument("--lines", type=positive_int, default=100,
                        help="last lines of each log (default 100)")
    _json_flag(parser)


def run_logs(args: argparse.Namespace, ctx: Context) -> Any:
    return core.logs(args.name, args.lines, cwd=ctx.cwd)


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
