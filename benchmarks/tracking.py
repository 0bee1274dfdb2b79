"""Logging 10,000 metric points against a real ``mlflow server`` on loopback.

Compares, in one run against the same server:

- ours: ``mlops.log()`` in a tight loop, then ``mlops.flush()``;
- MLflow's synchronous ``mlflow.log_metric`` (timed over 200 calls and extrapolated, since
  10,000 calls take minutes);
- MLflow's own asynchronous logging (``mlflow.log_metric(..., synchronous=False)``, then
  ``mlflow.flush_async_logging()``), measured once (it takes minutes to drain here);
- the baseline: the same points uploaded as well-batched ``MlflowClient.log_batch`` calls
  (10 x 1,000, prepared beforehand, only the uploads timed).

"Time to durable" runs from the first call of the loop until the server holds every point;
each method's points are then read back from the server and counted. Targets: per-call cost
in the loop <= 20 us; >= 100x faster than synchronous ``log_metric``; time to durable <= 1.2x
the batched upload. Exit status 0 when all are met.

    .venv/bin/python benchmarks/tracking.py [--points 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

SYNC_SAMPLE = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination",
         str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, env=env,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("mlflow server exited: see " + str(folder / "server.log"))
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.25)
    raise SystemExit("mlflow server did not start")


def read_back(client: Any, run_id: str, n: int) -> str:
    steps = sorted(m.step for m in client.get_metric_history(run_id, "loss"))
    ok = steps == list(range(n))
    return f"{len(steps)} {'ok' if ok else 'WRONG'}"


def bench_ours(client: Any, n: int) -> tuple[float, float, str]:
    import jupyter_mlops as mlops

    run = mlops.start_run(experiment="bench", run_name="ours")
    log = mlops.log
    began = time.perf_counter()
    for i in range(n):
        log(step=i, loss=i * 1e-4)
    loop = time.perf_counter() - began
    result = mlops.flush(timeout=600)
    durable = time.perf_counter() - began
    assert result.done, result
    mlops.end_run()
    return loop / n, durable, read_back(client, run.run_id, n)


def bench_sync(client: Any, experiment_id: str) -> float:
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id, run_name="log_metric sync"):
        began = time.perf_counter()
        for i in range(SYNC_SAMPLE):
            mlflow.log_metric("loss", i * 1e-4, step=i)
        return (time.perf_counter() - began) / SYNC_SAMPLE


def bench_async(client: Any, experiment_id: str, n: int) -> tuple[float, float, str]:
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id, run_name="log_metric async") as run:
        began = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("loss", i * 1e-4, step=i, synchronous=False)
        loop = time.perf_counter() - began
        mlflow.flush_async_logging()
        durable = time.perf_counter() - began
    return loop / n, durable, read_back(client, run.info.run_id, n)


def bench_batch(client: Any, experiment_id: str, n: int) -> tuple[float, str]:
    from mlflow.entities import Metric

    run = client.create_run(experiment_id, run_name="log_batch baseline")
    now = int(time.time() * 1000)
    metrics = [Metric("loss", i * 1e-4, now, i) for i in range(n)]
    batches = [metrics[i:i + 1000] for i in range(0, n, 1000)]
    began = time.perf_counter()
    for batch in batches:
        client.log_batch(run.info.run_id, metrics=batch)
    durable = time.perf_counter() - began
    with contextlib.redirect_stdout(io.StringIO()):  # MLflow prints a link to the run
        client.set_terminated(run.info.run_id)
    return durable, read_back(client, run.info.run_id, n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="repetitions of the durable timings (the median is reported)")
    args = parser.parse_args(argv)
    n = args.points

    folder = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    project = folder / "project"
    project.mkdir()
    os.chdir(project)
    process, url = start_server(folder)
    try:
        os.environ["MLOPS_TRACKING_URI"] = url
        import mlflow
        from mlflow import MlflowClient

        import jupyter_mlops as mlops
        from jupyter_mlops.tracking.store import ensure_experiment

        mlflow.set_tracking_uri(url)
        client = MlflowClient(url)
        experiment_id = ensure_experiment(mlops.load_config(), "bench")
        # warm up: imports, connections, the server's first requests
        mlops.start_run(experiment="bench", run_name="warm-up")
        for i in range(1000):
            mlops.log(step=i, loss=0.0)
        mlops.end_run()
        bench_batch(client, experiment_id, 1000)

        ours, batch = [], []
        for _ in range(args.repeat):
            batch.append(bench_batch(client, experiment_id, n))
            ours.append(bench_ours(client, n))
        # MLflow's async logging takes minutes to drain here: measured once
        with contextlib.redirect_stdout(io.StringIO()):  # MLflow prints a link per run
            async_ = [bench_async(client, experiment_id, n)]
            sync_call = bench_sync(client, experiment_id)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)

    def median(values: list[float]) -> float:
        return statistics.median(values)

    ours_call = median([o[0] for o in ours])
    ours_durable = median([o[1] for o in ours])
    async_call = median([a[0] for a in async_])
    async_durable = median([a[1] for a in async_])
    batch_durable = median([b[0] for b in batch])
    sync_total = sync_call * n

    import mlflow

    print(f"jupyter-mlops tracking benchmark: {n:,} metric points, mlflow server "
          f"{mlflow.__version__} (SQLite) on loopback, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs; ours and the baseline: medians of {args.repeat} runs")
    print()
    print(f"{'method':<44} {'per call':>12} {'to durable':>12}  read back")
    print(f"{'ours: mlops.log + flush':<44} {ours_call * 1e6:>9.2f} us {ours_durable:>10.2f} s"
          f"  {', '.join(o[2] for o in ours)}")
    sync_name = f"mlflow.log_metric (sync), {SYNC_SAMPLE} calls x{n // SYNC_SAMPLE}"
    print(f"{sync_name:<44} {sync_call * 1e3:>9.2f} ms {sync_total:>10.1f} s  (extrapolated from "
          f"{SYNC_SAMPLE} calls)")
    print(f"{'mlflow.log_metric(synchronous=False)':<44} {async_call * 1e6:>9.2f} us "
          f"{async_durable:>10.2f} s  {', '.join(a[2] for a in async_)}")
    print(f"{'baseline: MlflowClient.log_batch 1,000 x ' + str(n // 1000):<44} {'-':>12} "
          f"{batch_durable:>10.2f} s  {', '.join(b[1] for b in batch)}")
    print()
    checks = [
        ("per-call cost in the loop <= 20 us", ours_call * 1e6, 20.0,
         f"{ours_call * 1e6:.2f} us", ours_call * 1e6 <= 20),
        (">= 100x faster than sync log_metric", sync_call / ours_call, 100.0,
         f"{sync_call / ours_call:,.0f}x", sync_call / ours_call >= 100),
        ("time to durable <= 1.2x batched log_batch", ours_durable / batch_durable, 1.2,
         f"{ours_durable / batch_durable:.2f}x ({ours_durable:.2f} s vs {batch_durable:.2f} s)",
         ours_durable / batch_durable <= 1.2),
    ]
    for name, _value, _target, shown, ok in checks:
        print(f"  {'met ' if ok else 'MISS'}  {name}: {shown}")
    print(f"  (MLflow async logging: {sync_call / async_call:,.0f}x faster per call than sync, "
          f"{async_durable / batch_durable:.2f}x the batched upload to durable)")
    return 0 if all(c[4] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
