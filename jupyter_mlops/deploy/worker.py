"""A model worker: loads one MLflow model version on a device, warms it up, then predicts
batches the serving front sends over stdin, answering on stdout (see ``ipc``).

``python -m jupyter_mlops.deploy.worker --model DIR --device auto|none|N``. Everything the
model prints goes to stderr (the version's log file), never into the frame stream.
Predictions go through MLflow's own scoring function (``mlflow.pyfunc.scoring_server
.invocations``), so a request means exactly what it means to ``mlflow models serve``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any

from .ipc import WorkerEvent, encode, read_frame_sync
from .protocol import JSON, dumps, error_body, loads, merge_payloads, split_predictions


class DeviceError(Exception):
    """The requested device does not exist here."""


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} worker: {message}", file=sys.stderr, flush=True)


def choose_device(spec: str, flavors: dict[str, Any]) -> tuple[str, str | None]:
    """(device, note) for a device spec: 'auto' (CUDA when torch sees it, else the CPU),
    'none'/'cpu', or a CUDA index ('0', 'cuda:1'). Only PyTorch models are placed on a GPU."""
    spec = (spec or "auto").strip().lower()
    wants_cpu = spec in ("none", "cpu", "-1")
    index: int | None = None
    if not wants_cpu and spec != "auto":
        raw = spec.removeprefix("cuda").lstrip(":") or "0"
        if not raw.isdigit():
            raise DeviceError(f"unknown GPU '{spec}': use auto, none or a CUDA device index")
        index = int(raw)
    if "pytorch" not in flavors:
        if index is not None:
            return "cpu", ("this model's flavor is served on the CPU (GPU placement is done "
                           "for PyTorch models)")
        return "cpu", None
    import torch

    available = torch.cuda.is_available()
    count = torch.cuda.device_count() if available else 0
    if wants_cpu:
        return "cpu", None
    if index is None:  # auto
        if available:
            return "cuda:0", None
        return "cpu", "no CUDA device visible to torch: serving on the CPU"
    if not available:
        raise DeviceError(f"GPU {index} was requested but torch {torch.__version__} sees no "
                          "CUDA device here; deploy with gpu='none' (--gpu none) to serve on "
                          "the CPU")
    if index >= count:
        raise DeviceError(f"GPU {index} was requested but this machine has {count} "
                          f"(0..{count - 1}); pick one of those or gpu='none' for the CPU")
    return f"cuda:{index}", None


def device_of(model: Any, fallback: str) -> str:
    """The device the loaded model's weights actually sit on."""
    try:
        raw = model.get_raw_model()
        parameters = getattr(raw, "parameters", None)
        if callable(parameters):
            for parameter in parameters():
                return str(parameter.device)
    except Exception:  # not every flavor exposes a raw torch model
        pass
    return fallback


def warmup_payload(model: Any, model_dir: Path) -> bytes:
    """The model's serving input example, else one row synthesized from its signature."""
    info = model.metadata.saved_input_example_info or {}
    serving = info.get("serving_input_path")
    if serving and (model_dir / str(serving)).is_file():
        return (model_dir / str(serving)).read_bytes()
    schema = model.metadata.get_input_schema()
    if schema is None:
        raise ValueError("the model has no signature and no input example: log it with "
                         "input_example=... (or signature=...) so it can be warmed up")
    if schema.is_tensor_spec():
        import numpy as np

        def zeros(spec: Any) -> Any:
            shape = [1 if d == -1 else d for d in spec.shape]
            return np.zeros(shape, dtype=spec.type).tolist()

        specs = schema.inputs
        if len(specs) == 1 and not specs[0].name:
            return dumps({"inputs": zeros(specs[0])})
        return dumps({"inputs": {s.name: zeros(s) for s in specs}})
    defaults = {"string": "", "boolean": False, "binary": "", "datetime": "2000-01-01"}
    names, row = [], []
    for col in schema.inputs:
        if getattr(col, "optional", False) or getattr(col, "required", True) is False:
            continue
        kind = getattr(getattr(col, "type", None), "name", "double")
        names.append(col.name)
        row.append(defaults.get(kind, 0))
    if not names or any(n is None for n in names):
        return dumps({"inputs": [row]})
    return dumps({"dataframe_split": {"columns": names, "data": [row]}})


class Predictor:
    """One loaded model answering batches through MLflow's scoring function."""

    def __init__(self, model: Any) -> None:
        from mlflow.pyfunc import scoring_server

        self.model = model
        self.schema = model.metadata.get_input_schema()
        self._invocations: Any = scoring_server.invocations

    def one(self, body: bytes, content_type: str) -> tuple[int, bytes, str]:
        from mlflow.exceptions import MlflowException

        try:
            result: Any = self._invocations(body, content_type, self.model, self.schema)
        except MlflowException as exc:
            error: Any = exc
            return int(error.get_http_status_code()), str(error.serialize_as_json()).encode(), \
                JSON
        except RecursionError:  # MLflow's json.loads on a payload nested ~1000 deep
            return 400, error_body("the request is nested too deeply to be read"), JSON
        except Exception as exc:  # the model's own failure: a 500 with its message
            log("prediction failed: " + "".join(traceback.format_exception_only(exc)).strip())
            return 500, error_body(f"{type(exc).__name__}: {exc}", "INTERNAL_ERROR"), JSON
        response = result.response
        data = response.encode() if isinstance(response, str) else bytes(response)
        return int(result.status), data, str(result.mimetype)

    def batch(self, items: list[tuple[bytes, str, int]], merge: bool
              ) -> list[tuple[int, bytes, str]]:
        """Predict items (body, content type, rows) together when ``merge`` and the result
        splits back by rows; otherwise (or on any failure) each on its own."""
        if merge and len(items) > 1:
            try:
                merged = merge_payloads([loads(body) for body, _, _ in items])
                status, data, _ = self.one(dumps(merged), JSON)
                if status == 200:
                    parts = split_predictions(loads(data)["predictions"],
                                              [rows for _, _, rows in items])
                    if parts is not None:
                        return [(200, dumps({"predictions": p}), JSON) for p in parts]
            except Exception as exc:  # fall back to one by one, which names the culprit
                log(f"merged batch failed ({type(exc).__name__}: {exc}); predicting one by one")
        return [self.one(body, ct) for body, ct, _ in items]


def serve(args: argparse.Namespace, out: IO[bytes], inp: IO[bytes]) -> int:
    def send(header: dict[str, Any], body: bytes = b"") -> None:
        out.write(encode(header, body))
        out.flush()

    def announce(event: WorkerEvent, body: bytes = b"", **fields: Any) -> None:
        send({"event": event, **fields}, body)

    began = time.perf_counter()
    stage = "the model process failed to start"
    announce("loading")
    model_dir = Path(args.model)
    try:
        import mlflow
        from mlflow.models import Model

        os.environ["_MLFLOW_IS_IN_SERVING_ENVIRONMENT"] = "true"
        flavors = Model.load(str(model_dir)).flavors
        device, note = choose_device(args.device, flavors)
        if note:
            log(note)
        log(f"loading {model_dir} on {device} (mlflow {mlflow.__version__})")
        config = {"device": device} if "pytorch" in flavors else None
        if "pytorch" in flavors and device == "cpu":
            import torch

            # the serving front needs a core of its own; oversubscribed torch threads spin
            threads = args.threads or max(1, (os.cpu_count() or 2) - 1)
            torch.set_num_threads(threads)
            log(f"torch uses {threads} CPU thread{'s' if threads != 1 else ''}")
        stage = "loading the model failed"
        model = mlflow.pyfunc.load_model(str(model_dir), model_config=config)
        device = device_of(model, device)
        stage = "the warm-up request failed"
        load_ms = (time.perf_counter() - began) * 1000
        announce("warming")
        predictor = Predictor(model)
        payload = warmup_payload(model, model_dir)
        started = time.perf_counter()
        status, data, _ = predictor.one(payload, JSON)
        warmup_ms = (time.perf_counter() - started) * 1000
        if status != 200:
            detail = data.decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = str(loads(data).get("message", detail))
            raise ValueError(f"HTTP {status}: {detail.splitlines()[0] if detail else ''}")
    except DeviceError as exc:
        log(str(exc))
        announce("failed", message=str(exc), kind="device")
        return 3
    except Exception as exc:
        log("failed to start:\n" + traceback.format_exc())
        message = "".join(traceback.format_exception_only(exc)).strip().splitlines()[0]
        announce("failed", message=f"{stage}: {message}")
        return 1
    log(f"ready on {device}: loaded in {load_ms:.0f} ms, warm-up request {warmup_ms:.1f} ms")
    announce("ready", payload, device=device, note=note, load_ms=round(load_ms, 1),
             warmup_ms=round(warmup_ms, 2), mlflow_version=mlflow.__version__,
             flavors=sorted(flavors), pid=os.getpid())
    while True:
        frame = read_frame_sync(inp)
        if frame is None:
            log("front closed the pipe: exiting")
            return 0
        header, body = frame
        items, offset = [], 0
        for item in header["items"]:
            items.append((body[offset:offset + item["len"]], item["ct"], item["rows"]))
            offset += item["len"]
        results = predictor.batch(items, bool(header.get("merge")))
        send({"id": header["id"],
              "results": [{"status": s, "len": len(d), "ct": ct} for s, d, ct in results]},
             b"".join(d for _, d, _ in results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyter_mlops.deploy.worker")
    parser.add_argument("--model", required=True, help="folder of the MLflow model")
    parser.add_argument("--device", default="auto", help="auto, none or a CUDA device index")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: one fewer than the machine's cores)")
    args = parser.parse_args(argv)
    # the frame stream keeps the original stdout; anything printed goes to the log (stderr)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = os.fdopen(os.dup(0), "rb")
    return serve(args, out, inp)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
