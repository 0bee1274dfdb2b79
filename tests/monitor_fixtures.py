"""Inference logs as the serving process lays them out (hourly Parquet partitions under
``<state_dir>/monitoring/<deployment>/``), written by the monitor tests to read back."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jupyter_mlops.config import load_config
from jupyter_mlops.deploy.state import Deployment, DeploymentStore
from jupyter_mlops.monitor.folders import monitoring_folder

UTC = timezone.utc
NOW = datetime.now(UTC).replace(microsecond=0)


def log_folder(project: Path, name: str) -> Path:
    return monitoring_folder(load_config(project), name)


def write_part(project: Path, name: str, rows: list[dict[str, Any]],
               columns: tuple[str, ...] = ("x0", "x1")) -> Path:
    """One flush of the log writer: a Parquet file in the rows' hourly partition (the rows
    share one hour), in the documented layout and types."""
    when: datetime = rows[0]["timestamp"]
    partition = log_folder(project, name) / f"date={when:%Y-%m-%d}" / f"hour={when:%H}"
    partition.mkdir(parents=True, exist_ok=True)
    fields = [pa.field("request_id", pa.string()), pa.field("timestamp", pa.timestamp("us", "UTC")),
              pa.field("version", pa.string()),
              *(pa.field(c, pa.float64()) for c in columns),
              pa.field("prediction", pa.float64()), pa.field("latency_ms", pa.float64())]
    schema = pa.schema(fields)
    table = pa.Table.from_pylist(rows, schema=schema)
    path = partition / f"part-{int(when.timestamp() * 1000)}-{uuid.uuid4().hex[:8]}.parquet"
    pq.write_table(table, path)
    return path


def row(when: datetime, n: int, version: str = "1", **extra: Any) -> dict[str, Any]:
    return {"request_id": f"req-{n}", "timestamp": when, "version": version, "x0": float(n),
            "x1": -float(n), "prediction": 2.0 * n, "latency_ms": 1.5, **extra}


def deployed(project: Path, name: str) -> None:
    """A deployment as the store records it (stopped: no process needed to read its log)."""
    store = DeploymentStore(load_config(project).path("deploy.path"))
    store.save(Deployment(name, "local", status="stopped"))


def make_churn_log(project: Path) -> Path:
    """'churn': 3 requests 3 h ago, 2 requests 90 min ago, 4 in the last 10 minutes (the
    last 2 by version 2); ids req-0..2, req-10..11, req-20..23."""
    deployed(project, "churn")
    old, mid = NOW - timedelta(hours=3), NOW - timedelta(minutes=90)
    write_part(project, "churn", [row(old + timedelta(seconds=i), i) for i in range(3)])
    write_part(project, "churn", [row(mid + timedelta(seconds=i), 10 + i) for i in range(2)])
    recent = NOW - timedelta(minutes=10)
    write_part(project, "churn", [row(recent + timedelta(seconds=i), 20 + i) for i in range(2)])
    write_part(project, "churn", [row(recent + timedelta(seconds=5 + i), 22 + i, "2")
                                  for i in range(2)])
    return project
