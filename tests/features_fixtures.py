"""Generated feature data with the hard cases of point-in-time retrieval (ties on the event
time, rows exactly at the TTL edge, late-arriving rows in a later publish, entities without
history, two entity keys) and a brute-force reference written as plain loops.

Also runnable in another venv (the Feast adapter test's), so: pandas and numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

BASE = pd.Timestamp("2024-03-01", tz="UTC")
# whole days: Feast 0.67's DuckDB store (ibis) fails on a TTL mixing days and seconds (30 h)
ORDERS_TTL = pd.Timedelta(days=1)


def at(seconds: int) -> pd.Timestamp:
    return BASE + pd.Timedelta(seconds=int(seconds))


@dataclass
class Generated:
    """Two views, each published in several batches, and an entity frame."""

    orders: list[pd.DataFrame] = field(default_factory=list)  # customer_id; created ts; TTL
    sessions: list[pd.DataFrame] = field(default_factory=list)  # customer_id + device; no TTL
    entities: pd.DataFrame = field(default_factory=pd.DataFrame)


def generate(seed: int = 7, customers: int = 40, rows: int = 400, entity_rows: int = 600
             ) -> Generated:
    rng = np.random.default_rng(seed)
    hour = 3600
    horizon = 10 * 24 * hour
    out = Generated()
    # orders: coarse times (whole hours) so that equal event times occur; a created
    # timestamp breaks those ties, and sometimes it ties too (then the later publish wins)
    for batch in range(3):
        n = rows // 3
        event = rng.integers(0, horizon // hour, n) * hour
        if batch == 2:  # late-arriving: old event times published last
            event = rng.integers(0, horizon // hour // 3, n) * hour
        created = event + rng.integers(0, 4, n) * 60 + batch * 10
        out.orders.append(pd.DataFrame({
            "customer_id": rng.integers(0, customers, n).astype("int64"),
            "event_timestamp": [at(s) for s in event],
            "created": [at(s) for s in created],
            "amount": rng.normal(50, 20, n).round(2),
            "order_count": rng.integers(0, 20, n).astype("int64"),
            "segment": rng.choice(["gold", "silver", "bronze"], n),
        }))
    for _batch in range(2):
        n = rows // 2
        event = rng.integers(0, horizon // (30 * 60), n) * 30 * 60
        out.sessions.append(pd.DataFrame({
            "customer_id": rng.integers(0, customers, n).astype("int64"),
            "device": rng.choice(["ios", "web"], n),
            "event_timestamp": [at(s) for s in event],
            "minutes": rng.exponential(12, n).round(3),
            "active": rng.random(n) < 0.5,
        }))
    # entity rows: random times, plus rows exactly at a feature row's event time and exactly
    # at its TTL edge, and customers that never had a feature row
    first = out.orders[0]
    times = list(rng.integers(-hour, horizon + 2 * 24 * hour, entity_rows - 60))
    ids = list(rng.integers(0, customers + 5, entity_rows - 60))
    for i in range(20):
        row = first.iloc[i]
        seconds = int((row["event_timestamp"] - BASE).total_seconds())
        ttl = int(ORDERS_TTL.total_seconds())
        ids += [int(row["customer_id"])] * 3
        times += [seconds, seconds + ttl, seconds + ttl + 1]
    devices = rng.choice(["ios", "web", "android"], len(ids))
    out.entities = pd.DataFrame({
        "customer_id": np.array(ids, dtype="int64"),
        "device": devices,
        "event_timestamp": [at(s) for s in times],
        "label": rng.integers(0, 2, len(ids)),
    })
    return out


def brute_force(batches: list[pd.DataFrame], entities: pd.DataFrame, keys: list[str],
                features: list[str], ttl: pd.Timedelta | None, created: str | None,
                timestamp: str = "event_timestamp", entity_ts: str = "event_timestamp"
                ) -> pd.DataFrame:
    """For each entity row: among the feature rows with its keys and event time <= its time
    (and >= its time - ttl), the one with the greatest (event time, created time, publish,
    row); None where there is none. Loops, on purpose."""
    rows: list[tuple[Any, ...]] = []
    for publish, batch in enumerate(batches):
        for position, record in enumerate(batch.to_dict("records")):
            made = record[created] if created else None
            rows.append((tuple(record[k] for k in keys), record[timestamp], made, publish,
                         position, record))
    result: dict[str, list[Any]] = {f: [] for f in features}
    for entity in entities.to_dict("records"):
        key = tuple(entity[k] for k in keys)
        moment = entity[entity_ts]
        best = None
        for row_key, event, made, publish, position, record in rows:
            if row_key != key or event > moment:
                continue
            if ttl is not None and event < moment - ttl:
                continue
            rank = (event, made if made is not None else pd.Timestamp.min.tz_localize("UTC"),
                    publish, position)
            if best is None or rank > best[0]:
                best = (rank, record)
        for f in features:
            result[f].append(best[1][f] if best is not None else None)
    return pd.DataFrame(result)


def same_values(got: pd.Series, want: pd.Series) -> list[int]:
    """Positions where two columns differ (nulls equal nulls; floats to 1e-9)."""
    bad = []
    for i, (a, b) in enumerate(zip(got.tolist(), want.tolist(), strict=True)):
        a_null = a is None or a is pd.NA or (isinstance(a, float) and a != a)
        b_null = b is None or b is pd.NA or (isinstance(b, float) and b != b)
        if a_null or b_null:
            if a_null != b_null:
                bad.append(i)
        elif isinstance(a, float) or isinstance(b, float):
            if abs(float(a) - float(b)) > 1e-9:
                bad.append(i)
        elif a != b:
            bad.append(i)
    return bad
