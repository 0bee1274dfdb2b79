"""Feature retrieval benchmark: the embedded store against Feast and a hand-written DuckDB
ASOF JOIN, on the same generated data, in one run.

Data: 1,000,000 feature rows in 2 views × 10 features (500,000 rows each; 50,000 customers
over a year; one view with a created timestamp and a 30-day TTL) and 200,000 entity rows
(some customers without history, some rows before any feature row or past the TTL).

Historical retrieval of all 20 features for the 200,000 entity rows by

  * ours (``mlops.features.get``, the embedded store: Parquet parts + the hand-written sorted
    join of ``features/sorted_join.py``), cold (the first call in a fresh Python process that
    has imported pandas and jupyter_mlops, as a kernel has after ``%load_ext``: it maps the
    sorted copy that publish wrote; the median of 3 such processes) and warm (a repeated call
    in one process, from its in-memory cache),
  * ours through its DuckDB path (ASOF JOINs, what the store used before),
  * Feast 0.67 with its DuckDB offline store (``feast[duckdb]``),
  * Feast 0.67 with its default offline store (``file``, on dask),
  * a hand-written DuckDB ASOF JOIN over the same Parquet files (the floor),

then online lookup of 100 entities × 20 features: ours (SQLite online table) against Feast's
SQLite online store (after ``feast materialize``), then what a tracked run adds to the
retrieval: the same ``features.get`` without a run, inside a run with the reference capture
turned off (the lineage alone), and inside a run with it (the run's first retrieval is
profiled as its reference, ``monitor/reference.json``, in a background thread); the capture
must cost <= 10% of the retrieval. Every engine's values are compared on
sampled rows, and rows dropped by each are counted. Targets: >= 8x faster than Feast+DuckDB,
>= 50x faster than Feast's default store, within 1.5x of the hand-written join, no row
dropped; online p50 <= 2 ms for 100 entities.

Feast runs in its own venv (it pins pandas < 3): ``make engines`` builds it.

    .venv/bin/python benchmarks/features.py [--feast-python PATH] [--skip-dask] [--rows N]
                                            [--only reference]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from jupyter_mlops import features  # noqa: E402

FEATURES_PER_VIEW = 10
CUSTOMERS = 50_000
TTL_DAYS = 30  # whole days: Feast's DuckDB store fails on a TTL mixing days and seconds
TARGETS = {"feast_duckdb": 8.0, "feast_default": 50.0, "floor": 1.5, "online_ms": 2.0,
           "reference_share": 0.10}
START = pd.Timestamp("2024-01-01", tz="UTC")
YEAR_S = 365 * 24 * 3600


def generate(rows_per_view: int, entity_rows: int, seed: int = 0
             ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Two views (no two rows share customer and event time: every engine's answer is then
    the same) and the entity frame."""
    rng = np.random.default_rng(seed)

    def view(prefix: str, created: bool) -> pd.DataFrame:
        n = int(rows_per_view * 1.02)
        frame = pd.DataFrame({
            "customer_id": rng.integers(0, CUSTOMERS, n).astype("int64"),
            "event_timestamp": START + pd.to_timedelta(rng.integers(0, YEAR_S, n), unit="s"),
        }).drop_duplicates(["customer_id", "event_timestamp"]).head(rows_per_view)
        frame = frame.reset_index(drop=True)
        if created:
            frame["created"] = frame["event_timestamp"] + pd.to_timedelta(
                rng.integers(0, 3600, len(frame)), unit="s")
        for i in range(FEATURES_PER_VIEW):
            frame[f"{prefix}{i}"] = rng.normal(i, 1, len(frame))
        frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
        if created:
            frame["created"] = frame["created"].astype("datetime64[us, UTC]")
        return frame

    orders = view("o", created=True)
    activity = view("a", created=False)
    entities = pd.DataFrame({
        "row_id": np.arange(entity_rows, dtype="int64"),
        "customer_id": rng.integers(0, int(CUSTOMERS * 1.05), entity_rows).astype("int64"),
        "event_timestamp": (START + pd.to_timedelta(
            rng.integers(-30 * 86400, YEAR_S + 60 * 86400, entity_rows), unit="s")
        ).astype("datetime64[us, UTC]"),
    })
    return orders, activity, entities


def floor_query(orders: Path, activity: Path, entities: pd.DataFrame) -> pd.DataFrame:
    """The hand-written ASOF JOIN: the same answer, in the entity frame's order."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ents = entities.assign(__row=np.arange(len(entities)))
    con.register("ents", ents)
    ttl = f"INTERVAL {TTL_DAYS} DAY"
    o_cols = ", ".join(f"CASE WHEN o.event_timestamp >= e.event_timestamp - {ttl} THEN o.o{i} "
                       f"END AS o{i}" for i in range(FEATURES_PER_VIEW))
    a_cols = ", ".join(f"a.a{i}" for i in range(FEATURES_PER_VIEW))
    frame = con.execute(
        f"SELECT e.row_id, e.customer_id, e.event_timestamp, {o_cols}, {a_cols} FROM ents e "
        f"ASOF LEFT JOIN read_parquet('{orders}') o ON e.customer_id = o.customer_id AND "
        f"e.event_timestamp >= o.event_timestamp "
        f"ASOF LEFT JOIN read_parquet('{activity}') a ON e.customer_id = a.customer_id AND "
        f"e.event_timestamp >= a.event_timestamp ORDER BY e.__row").df()
    con.close()
    return frame


COLD_SCRIPT = r'''
import sys, time
import pandas as pd
from jupyter_mlops import features
project, entities_file, out = sys.argv[1:4]
entities = pd.read_parquet(entities_file)
began = time.perf_counter()
frame = features.get(["orders:*", "activity:*"], entities, timestamp="event_timestamp",
                     cwd=project)
seconds = time.perf_counter() - began
if out != "-":
    frame.to_parquet(out)
print(seconds)
'''


def ours_cold(project: Path, work: Path, runs: int = 3) -> tuple[float, pd.DataFrame]:
    """The median first retrieval over ``runs`` fresh processes, and the frame it gave.
    Bytecode is cached as in an installed package (this machine's environment turns that
    off, which would time the compiler)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    subprocess.run([sys.executable, "-c", "import jupyter_mlops.features.embedded, "
                    "jupyter_mlops.features.sorted_join"], env=env, check=True)  # the .pyc
    laps = []
    for i in range(runs):
        out = str(work / "ours_cold.parquet") if i == 0 else "-"
        done = subprocess.run([sys.executable, "-c", COLD_SCRIPT, str(project),
                               str(work / "entities.parquet"), out], env=env,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError("the cold retrieval failed:\n" + done.stderr[-3000:])
        laps.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(laps), pd.read_parquet(work / "ours_cold.parquet")


FEAST_SCRIPT = r'''
import json, statistics, sys, time
from datetime import datetime, timedelta, timezone
from pathlib import Path
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

work, skip_dask = Path(sys.argv[1]), sys.argv[2] == "1"
n_features, ttl_days = int(sys.argv[3]), int(sys.argv[4])
entities = pd.read_parquet(work / "entities.parquet")
names = [f"orders:o{i}" for i in range(n_features)]
names += [f"activity:a{i}" for i in range(n_features)]
customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)

def schema(prefix):
    return [Field(name="customer_id", dtype=Int64)] + [
        Field(name=f"{prefix}{i}", dtype=Float64) for i in range(n_features)]

def definitions():
    orders = FeatureView(
        name="orders", entities=[customer], ttl=timedelta(days=ttl_days), schema=schema("o"),
        source=FileSource(path=str(work / "orders.parquet"), timestamp_field="event_timestamp",
                          created_timestamp_column="created"))
    activity = FeatureView(
        name="activity", entities=[customer], ttl=timedelta(0), schema=schema("a"),
        source=FileSource(path=str(work / "activity.parquet"),
                          timestamp_field="event_timestamp"))
    return [customer, orders, activity]

out = {}
for store_type in (["duckdb"] if skip_dask else ["duckdb", "file"]):
    repo = work / f"feast_{store_type}"
    (repo / "data").mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        "project: bench\nregistry: data/registry.db\nprovider: local\n"
        f"offline_store:\n  type: {store_type}\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\n"
        "entity_key_serialization_version: 3\n")
    store = FeatureStore(repo_path=str(repo))
    store.apply(definitions())
    times = []
    for attempt in range(2 if store_type == "duckdb" else 1):
        began = time.perf_counter()
        frame = store.get_historical_features(entity_df=entities, features=names).to_df()
        times.append(time.perf_counter() - began)
    frame.to_parquet(work / f"feast_{store_type}.parquet")
    out[store_type] = {"seconds": min(times), "rows": len(frame)}
    if store_type == "duckdb":
        began = time.perf_counter()
        store.materialize(datetime(2023, 1, 1, tzinfo=timezone.utc),
                          datetime(2026, 1, 1, tzinfo=timezone.utc))
        out["materialize_seconds"] = time.perf_counter() - began
        keys = json.loads((work / "online_keys.json").read_text())
        rows = [{"customer_id": k} for k in keys]
        laps = []
        for _ in range(60):
            began = time.perf_counter()
            online = store.get_online_features(features=names, entity_rows=rows).to_df()
            laps.append(time.perf_counter() - began)
        online.to_parquet(work / "feast_online.parquet")
        out["online_p50_ms"] = statistics.median(laps) * 1000
print(json.dumps(out))
'''


def compare(ours: pd.DataFrame, other: pd.DataFrame, columns: list[str], sample: np.ndarray
            ) -> int:
    """Sampled rows (by row_id) that ``other`` returned and whose values differ from ours
    (nulls equal nulls); rows it dropped are counted apart."""
    present = np.intersect1d(sample, other["row_id"].to_numpy())
    mine = ours.set_index("row_id").loc[present, columns]
    theirs = other.set_index("row_id").loc[present, columns]
    a, b = mine.to_numpy(dtype="float64"), theirs.to_numpy(dtype="float64")
    same = np.isclose(a, b, rtol=0, atol=1e-9) | (np.isnan(a) & np.isnan(b))
    return int((~same).any(axis=1).sum())


def reference_cost(project: Path, wanted: list[str], entities: pd.DataFrame,
                   repeat: int = 5) -> tuple[list[str], float]:
    """What a tracked run adds to a warm retrieval: the lineage (dataset inputs logged on the
    run) and the reference capture (the run's first retrieval profiled in a background
    thread; each timed retrieval is a new run's first). Best of ``repeat`` each; returns
    the report's lines and the capture's share (its own time on the caller's path) of the
    retrieval without a run."""
    import jupyter_mlops as mlops
    from jupyter_mlops.monitor import reference
    from jupyter_mlops.monitor.profile import profile_frame

    def get() -> pd.DataFrame:
        return features.get(wanted, entities, timestamp="event_timestamp", cwd=project)

    caller_side: list[float] = []  # capture()'s own time on the retrieval's path

    def timed_capture(df: pd.DataFrame, source: dict[str, object]) -> None:
        t0 = time.perf_counter()
        real(df, source)
        caller_side.append(time.perf_counter() - t0)

    real = reference.capture

    def in_runs(capture: bool) -> tuple[float, float]:
        """(best retrieval, best end of run) over ``repeat`` new runs."""
        reference.capture = timed_capture if capture else (  # type: ignore[assignment]
            lambda df, source: None)
        best_get = best_end = float("inf")
        try:
            for _ in range(repeat):
                mlops.start_run(experiment="reference-benchmark", cwd=str(project))
                t0 = time.perf_counter()
                get()
                best_get = min(best_get, time.perf_counter() - t0)
                t0 = time.perf_counter()
                mlops.end_run()
                best_end = min(best_end, time.perf_counter() - t0)
        finally:
            reference.capture = real
        return best_get, best_end

    get()  # warm: the sorted copies mapped, the tracking store created
    mlops.start_run(experiment="reference-benchmark", cwd=str(project))
    mlops.end_run()
    plain = min(_lap(get) for _ in range(repeat))
    lineage_get, lineage_end = in_runs(capture=False)
    captured_get, captured_end = in_runs(capture=True)
    frame = get()
    profiling = min(_lap(lambda: profile_frame(frame)) for _ in range(repeat))
    capture_s = min(caller_side)
    share = capture_s / plain
    rows, columns = frame.shape
    lines = [f"a tracked retrieval, {rows:,} rows x {columns} columns (best of {repeat}):",
             f"  features.get without a run                     {plain:9.3f} s",
             f"  in a run, lineage only (capture off)           {lineage_get:9.3f} s   "
             f"(end_run {lineage_end:.3f} s)",
             f"  in a run, lineage + reference capture          {captured_get:9.3f} s   "
             f"(end_run {captured_end:.3f} s: it waits for the profile)",
             f"  profile_frame alone (what the caller would wait for without the thread) "
             f"{profiling:.3f} s = {profiling / plain:.0%} of the retrieval",
             f"  capture() on the retrieval's path (snapshot, thread start): "
             f"{capture_s * 1000:.2f} ms = {share:.1%} of the retrieval (the difference of the "
             f"two lines above, {captured_get - lineage_get:+.3f} s, is mostly the machine's "
             "noise)"]
    return lines, share


def _lap(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("MLOPS_ENGINES_DIR", "/tmp/jupyter-mlops-engines")) / \
        "feast" / "bin" / "python"
    parser.add_argument("--feast-python", type=Path, default=default)
    parser.add_argument("--skip-dask", action="store_true",
                        help="leave out Feast's default store (about a minute)")
    parser.add_argument("--rows", type=int, default=500_000, help="feature rows per view")
    parser.add_argument("--entity-rows", type=int, default=200_000)
    parser.add_argument("--only", choices=["reference"],
                        help="only the tracked-retrieval section (no Feast, no cold runs)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mlops-features-bench-"))
    project = work / "project"
    project.mkdir()
    print(f"generating {2 * args.rows:,} feature rows (2 views x {FEATURES_PER_VIEW} features) "
          f"and {args.entity_rows:,} entity rows in {work}", flush=True)
    orders, activity, entities = generate(args.rows, args.entity_rows)
    orders.to_parquet(work / "orders.parquet", coerce_timestamps="us")
    activity.to_parquet(work / "activity.parquet", coerce_timestamps="us")
    entities.to_parquet(work / "entities.parquet", coerce_timestamps="us")
    began = time.perf_counter()
    features.publish(orders, "orders", entities="customer_id", timestamp="event_timestamp",
                     created_timestamp="created", ttl=f"{TTL_DAYS}d", cwd=project)
    features.publish(activity, "activity", entities="customer_id",
                     timestamp="event_timestamp", cwd=project)
    publish_s = time.perf_counter() - began
    wanted = ["orders:*", "activity:*"]
    columns = [f"o{i}" for i in range(FEATURES_PER_VIEW)] + \
        [f"a{i}" for i in range(FEATURES_PER_VIEW)]

    if args.only == "reference":
        lines, share = reference_cost(project, wanted, entities)
        met = share <= TARGETS["reference_share"]
        lines.append(f"  [{'met' if met else 'MISSED'}] the reference capture costs <= 10% of "
                     f"the retrieval: {share:.1%}")
        print("\n".join(lines))
        return 0 if met else 1

    from jupyter_mlops.config import load_config
    from jupyter_mlops.features.api import open_store
    from jupyter_mlops.features.model import parse_refs

    store = open_store(load_config(project))

    def ours_once() -> pd.DataFrame:
        return features.get(wanted, entities, timestamp="event_timestamp", cwd=project)

    def ours_duckdb() -> pd.DataFrame:
        return store.historical(parse_refs(wanted), entities,  # type: ignore[call-arg]
                                "event_timestamp", join="duckdb")

    def timed(fn, repeat: int = 3):  # type: ignore[no-untyped-def]
        best, result = float("inf"), None
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = fn()
            best = min(best, time.perf_counter() - t0)
        return best, result

    ours_s, ours = ours_cold(project, work)  # fresh processes: the sorted copies on disk
    warm_s, _warm = timed(ours_once)
    duck_s, duck = timed(ours_duckdb)
    floor_s, floor = timed(lambda: floor_query(work / "orders.parquet",
                                               work / "activity.parquet", entities))
    rng = np.random.default_rng(1)
    keys = rng.choice(CUSTOMERS, 100, replace=False).tolist()
    (work / "online_keys.json").write_text(json.dumps(keys))
    laps = []
    for _ in range(200):
        t0 = time.perf_counter()
        ours_online = features.online(["orders:*", "activity:*"], keys, cwd=project)
        laps.append(time.perf_counter() - t0)
    online_ms = statistics.median(laps) * 1000

    feast: dict[str, object] = {}
    feast_note = ""
    if args.feast_python.is_file():
        print("running Feast (its own venv) ...", flush=True)
        done = subprocess.run([str(args.feast_python), "-c", FEAST_SCRIPT, str(work),
                               "1" if args.skip_dask else "0", str(FEATURES_PER_VIEW),
                               str(TTL_DAYS)], capture_output=True, text=True,
                              env={**os.environ, "FEAST_USAGE": "False"}, check=False)
        if done.returncode == 0:
            feast = json.loads(done.stdout.strip().splitlines()[-1])
        else:
            feast_note = "Feast failed: " + done.stderr.strip().splitlines()[-1]
    else:
        feast_note = f"(no Feast at {args.feast_python}: run `make engines` first)"

    sample = rng.choice(args.entity_rows, 2000, replace=False)
    total = len(entities)
    load = os.getloadavg()
    lines = [f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / "
             f"{load[2]:.1f} (1/5/15 min) at the end: timings on a busy machine are inflated",
             f"published 2 views in {publish_s:.2f} s (embedded store)", "",
             f"historical retrieval, {total:,} entity rows x 20 features:",
             f"  {'engine':<38}{'seconds':>9}{'rows':>10}{'dropped':>9}{'differ*':>9}"]

    def line(name: str, seconds: float, frame: pd.DataFrame | None, rows: int) -> None:
        differ = compare(ours, frame, columns, sample) if frame is not None else "-"
        lines.append(f"  {name:<38}{seconds:>9.3f}{rows:>10,}{total - rows:>9,}{differ!s:>9}")

    line("ours, sorted join, cold (new process)", ours_s, ours, len(ours))
    line("ours, sorted join, warm (cached)", warm_s, _warm, len(_warm))
    line("ours, DuckDB ASOF path", duck_s, duck, len(duck))
    line("hand-written DuckDB ASOF (floor)", floor_s, floor, len(floor))
    ratios = {"floor": ours_s / floor_s}
    for key, name in (("duckdb", "Feast 0.67 + DuckDB offline store"),
                      ("file", "Feast 0.67 default (dask) store")):
        if key in feast:
            info = feast[key]
            assert isinstance(info, dict)
            frame = pd.read_parquet(work / f"feast_{key}.parquet")
            line(name, float(info["seconds"]), frame, int(info["rows"]))
            ratios["feast_duckdb" if key == "duckdb" else "feast_default"] = \
                float(info["seconds"]) / ours_s
    lines.append("  * of 2,000 sampled rows, those returned whose 20 values differ from ours")
    identical = _warm.equals(ours) and duck.equals(ours)
    lines.append(f"  the sorted join (cold and warm) and the DuckDB path give "
                 f"{'identical' if identical else 'DIFFERENT'} frames")
    lines.append(f"  why hand-written: DuckDB's ASOF JOIN is the bottleneck: the hand-written "
                 f"ASOF JOIN alone takes {floor_s:.3f} s and our DuckDB path {duck_s:.3f} s"
                 + (f", only {float(feast['duckdb']['seconds']) / duck_s:.1f}x faster than "  # type: ignore[index]
                    "Feast+DuckDB" if "duckdb" in feast else "")
                 + f"; the sorted join takes {ours_s:.3f} s cold, {warm_s:.3f} s warm")
    lines.append("  targets are judged on the cold call (the first retrieval in a new process); "
                 "'floor' compares it with the hand-written DuckDB ASOF JOIN")
    lines += ["", "online lookup, 100 entities x 20 features (p50):",
              f"  ours (SQLite online table)         {online_ms:8.3f} ms   (best "
              f"{min(laps) * 1000:.3f} ms)"]
    if "online_p50_ms" in feast:
        theirs = pd.read_parquet(work / "feast_online.parquet")
        mine = ours_online.set_index("customer_id").loc[keys, columns].to_numpy("float64")
        other = theirs.set_index("customer_id").loc[keys, columns].to_numpy("float64")
        differ = int((~(np.isclose(mine, other) | (np.isnan(mine) & np.isnan(other))))
                     .any(axis=1).sum())
        lines.append(f"  Feast SQLite online store          {feast['online_p50_ms']:8.3f} ms"
                     f"   (materialize took {feast['materialize_seconds']:.1f} s; "
                     f"{differ} of 100 entities differ)")
    lines += ["", "targets:"]
    ok = True

    def target(label: str, met: bool, detail: str) -> None:
        nonlocal ok
        ok = ok and met
        lines.append(f"  [{'met' if met else 'MISSED'}] {label}: {detail}")

    if "feast_duckdb" in ratios:
        target(">= 8x faster than Feast+DuckDB", ratios["feast_duckdb"] >= TARGETS[
            "feast_duckdb"], f"{ratios['feast_duckdb']:.1f}x")
    if "feast_default" in ratios:
        target(">= 50x faster than Feast's default store", ratios["feast_default"] >= TARGETS[
            "feast_default"], f"{ratios['feast_default']:.1f}x")
    target("within 1.5x of the hand-written ASOF JOIN", ratios["floor"] <= TARGETS["floor"],
           f"{ratios['floor']:.2f}x")
    target("no entity row dropped", len(ours) == total, f"{total - len(ours)} dropped")
    target("online p50 <= 2 ms for 100 entities", online_ms <= TARGETS["online_ms"],
           f"{online_ms:.3f} ms")
    if feast_note:
        lines.append(f"  {feast_note}")
    tracked, share = reference_cost(project, wanted, entities)
    target("the reference capture costs <= 10% of the retrieval",
           share <= TARGETS["reference_share"], f"{share:.1%}")
    lines += ["", *tracked]
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
