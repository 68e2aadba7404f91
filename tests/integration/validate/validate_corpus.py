"""Landing batches written the way producers write them, good and broken."""

from __future__ import annotations

import datetime as dt
import io as stdio
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def items(ids=("i1", "i2", "i3")) -> pd.DataFrame:
    return pd.DataFrame({"item_id": list(ids), "title": [f"Item {i}" for i in ids], "tags": ["a|b"] * len(ids)})


def interactions(n: int = 6, items_=("i1", "i2", "i3")) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [f"u{k % 3}" for k in range(n)],
            "item_id": [items_[k % len(items_)] for k in range(n)],
            "timestamp": pd.to_datetime([T0 + 60 * k for k in range(n)], unit="s", utc=True),
            "rating": [float(1 + k % 5) for k in range(n)],
        }
    )


def write_batch(directory: Path, files: dict[str, pd.DataFrame | bytes]) -> Path:
    directory.mkdir(parents=True)
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif name.endswith(".csv"):
            content.to_csv(path, index=False)
        else:
            content.to_parquet(path, index=False)
    return directory


def good_batch(directory: Path) -> Path:
    return write_batch(directory, {"items.parquet": items(), "interactions.parquet": interactions()})


def _csv_bytes(df: pd.DataFrame, **kwargs) -> bytes:
    buf = stdio.StringIO()
    df.to_csv(buf, index=False, **kwargs)
    return buf.getvalue().encode("utf-8")


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = stdio.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def _arrow_parquet(table: pa.Table) -> bytes:
    buf = stdio.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _interactions_with_times(times: pa.Array) -> bytes:
    """Interactions whose timestamp column has exactly the Arrow type of `times`."""
    n = len(times)
    return _arrow_parquet(pa.table({"user_id": [f"u{k}" for k in range(n)], "item_id": ["i1"] * n, "timestamp": times}))


def _invalid_utf8_titles() -> bytes:
    offsets = pa.py_buffer(np.array([0, 1, 4, 5], dtype=np.int32).tobytes())
    titles = pa.Array.from_buffers(pa.string(), 3, [None, offsets, pa.py_buffer(b"a\xed\xa0\x80c")])  # lone surrogate
    return _arrow_parquet(pa.table({"item_id": ["i1", "i2", "i3"], "title": titles}))


def _with(df: pd.DataFrame, **columns) -> pd.DataFrame:
    out = df.copy()
    for name, values in columns.items():
        out[name] = values
    return out


def broken_batches() -> dict[str, tuple[dict, str, str]]:
    """kind -> (files, file named in the failure, rule named in the failure)."""
    ok = interactions()
    n = len(ok)
    ts_future = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3)
    return {
        "missing column": ({"items.parquet": items(), "interactions.parquet": ok.drop(columns=["timestamp"])}, "interactions.parquet", "required column"),
        "extra column": ({"items.parquet": items(), "interactions.parquet": _with(ok, session=["s"] * n)}, "interactions.parquet", "columns"),
        "renamed column": ({"items.parquet": items(), "interactions.parquet": ok.rename(columns={"user_id": "userId"})}, "interactions.parquet", "required column"),
        "wrong type": ({"items.parquet": items(), "interactions.csv": _with(ok, rating=["4", "five", "3", "2", "1", "5"])}, "interactions.csv", "type"),
        "float ids": ({"items.parquet": items(), "interactions.parquet": _with(ok, user_id=[1.5] * n)}, "interactions.parquet", "type"),
        "null ids": ({"items.parquet": items(), "interactions.parquet": _with(ok, user_id=["u1", None, "u2", "u3", None, "u1"])}, "interactions.parquet", "non-null id"),
        "negative timestamp": ({"items.parquet": items(), "interactions.csv": _with(ok, timestamp=[T0, T0 + 1, -86400, T0 + 3, T0 + 4, T0 + 5])}, "interactions.csv", "timestamp range"),
        "future timestamp": ({"items.parquet": items(), "interactions.parquet": _with(ok, timestamp=[ts_future] * n)}, "interactions.parquet", "timestamp range"),
        "unparseable timestamp": ({"items.parquet": items(), "interactions.csv": _with(ok, timestamp=["2026-01-01T00:00:00Z", "yesterday", "2026-01-01T00:02:00Z", "2026-01-01T00:03:00Z", "2026-01-01T00:04:00Z", "2026-01-01T00:05:00Z"])}, "interactions.csv", "type"),
        "rating out of range": ({"items.parquet": items(), "interactions.parquet": _with(ok, rating=[1.0, 2.0, 7.5, 3.0, -1.0, 4.0])}, "interactions.parquet", "rating range"),
        "duplicate events": ({"items.parquet": items(), "interactions.parquet": pd.concat([ok, ok.iloc[:2]], ignore_index=True)}, "interactions.parquet", "duplicate events"),
        "unknown item": ({"items.parquet": items(), "interactions.parquet": _with(ok, item_id=["i1", "i2", "i404", "i3", "i1", "i2"])}, "interactions.parquet", "unknown item"),
        "duplicate item ids": ({"items.parquet": items(("i1", "i2", "i2", "i3")), "interactions.parquet": ok}, "items.parquet", "duplicate ids"),
        "empty file": ({"items.parquet": items(), "interactions.csv": b""}, "interactions.csv", "empty file"),
        "header only": ({"items.parquet": items(), "interactions.csv": b"user_id,item_id,timestamp\n"}, "interactions.csv", "not empty"),
        "truncated parquet": ({"items.parquet": items(), "interactions.parquet": _parquet_bytes(ok)[:-40]}, "interactions.parquet", "unreadable parquet"),
        "wrong delimiter": ({"items.parquet": items(), "interactions.csv": _csv_bytes(ok, sep=";")}, "interactions.csv", "delimiter"),
        "not utf-8": ({"items.csv": _csv_bytes(items()).replace(b"Item i2", b"Item \xe9t\xe9"), "interactions.parquet": ok}, "items.csv", "encoding"),
        "mojibake": ({"items.parquet": _with(items(), title=["Caf\ufffd", "B", "C"]), "interactions.parquet": ok}, "items.parquet", "encoding"),
        "1 MB text": ({"items.parquet": _with(items(), description=["x" * 1_000_000, "short", None]), "interactions.parquet": ok}, "items.parquet", "text length"),
        "control characters": ({"items.parquet": _with(items(), title=["ok", "bad\x00title", "bell\x07"]), "interactions.parquet": ok}, "items.parquet", "control characters"),
        "unknown file": ({"items.parquet": items(), "interactions.parquet": ok, "clicks.csv": _csv_bytes(ok)}, "clicks.csv", "unknown file"),
        "missing interactions": ({"items.parquet": items()}, "interactions.{parquet,csv}", "required file"),
        "ragged csv": ({"items.parquet": items(), "interactions.csv": b"user_id,item_id,timestamp\nu1,i1,1767225600\nu2,i2,1767225600,9,9\n"}, "interactions.csv", "malformed csv"),
        # timestamps a real export can hold but a nanosecond timestamp cannot (crashed ingest before)
        "year 1 timestamp (csv)": ({"items.parquet": items(), "interactions.csv": _with(ok, timestamp=["0001-01-01T00:00:00Z"] + [T0 + k for k in range(1, n)])}, "interactions.csv", "timestamp range"),
        "year 1 and 9999-12-31 (parquet us)": ({"items.parquet": items(), "interactions.parquet": _interactions_with_times(pa.array([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31), dt.datetime(2026, 1, 1)], pa.timestamp("us", tz="UTC")))}, "interactions.parquet", "timestamp range"),
        "int64 seconds overflowing ns": ({"items.parquet": items(), "interactions.parquet": _interactions_with_times(pa.array([2**62, T0], pa.int64()))}, "interactions.parquet", "timestamp range"),
        "epoch milliseconds": ({"items.parquet": items(), "interactions.parquet": _with(ok, timestamp=[(T0 + k) * 1000 for k in range(n)])}, "interactions.parquet", "timestamp range"),
        "year 1 date first_seen": ({"items.parquet": _arrow_parquet(pa.table({"item_id": ["i1", "i2", "i3"], "title": ["a", "b", "c"], "first_seen": pa.array([dt.date(1, 1, 1)] * 3)})), "interactions.parquet": ok}, "items.parquet", "timestamp range"),
        "blank titles": ({"items.parquet": _with(items(), title=["", " ", "\t"]), "interactions.parquet": ok}, "items.parquet", "blank text"),
        "infinite rating": ({"items.parquet": items(), "interactions.parquet": _with(ok, rating=[1.0, np.inf, 3.0, 2.0, 1.0, 4.0])}, "interactions.parquet", "type"),
        "infinite price": ({"items.parquet": _with(items(), price=[1.0, -np.inf, 2.0]), "interactions.parquet": ok}, "items.parquet", "type"),
        "boolean ids": ({"items.parquet": items(), "interactions.parquet": _with(ok, user_id=[True] * n)}, "interactions.parquet", "type"),
        "padded ids": ({"items.parquet": items(), "interactions.csv": _with(ok, user_id=[" u1", "u2", "u1 ", "u2", "u1", "u2"])}, "interactions.csv", "id whitespace"),
        "direction override": ({"items.parquet": _with(items(), title=["ok", "photo\u202egnp.exe", "x"]), "interactions.parquet": ok}, "items.parquet", "control characters"),
        "zero-width id": ({"items.parquet": _with(items(), item_id=["i1", "i\u200b2", "i3"]), "interactions.parquet": ok}, "items.parquet", "control characters"),
        "NUL byte in csv": ({"items.parquet": items(), "interactions.csv": b"user_id,item_id,timestamp\nu1\x00u9,i1,1767225600\n"}, "interactions.csv", "control characters"),
        "utf-16 csv": ({"items.csv": "item_id,title\ni1,a\n".encode("utf-16"), "interactions.parquet": ok}, "items.csv", "encoding"),
        "invalid utf-8 in parquet": ({"items.parquet": _invalid_utf8_titles(), "interactions.parquet": ok}, "items.parquet", "encoding"),
        "too many columns": ({"items.parquet": items(), "interactions.csv": (",".join(f"c{k}" for k in range(500)) + "\n" + ",".join("1" * 500) + "\n").encode()}, "interactions.csv", "too many columns"),
        "two formats of one table": ({"items.parquet": items(), "interactions.parquet": ok, "interactions.csv": _csv_bytes(ok)}, "interactions.csv, interactions.parquet", "ambiguous table"),
        "nested folder": ({"items.parquet": items(), "interactions.parquet": ok, "more/interactions.parquet": _parquet_bytes(ok)}, "more", "unknown file"),
        "zero-byte parquet": ({"items.parquet": items(), "interactions.parquet": b""}, "interactions.parquet", "empty file"),
        # Arrow types a producer may write into any column (a duration crashed GX's result serialization)
        "duration as item id": ({"items.parquet": _arrow_parquet(pa.table({"item_id": pa.array([1, 2, 3], pa.duration("s")), "title": ["a", "b", "c"]})), "interactions.parquet": ok}, "items.parquet", "type"),
        "time of day as first_seen": ({"items.parquet": _arrow_parquet(pa.table({"item_id": ["i1", "i2", "i3"], "title": ["a", "b", "c"], "first_seen": pa.array([1, 2, 3], pa.time64("us"))})), "interactions.parquet": ok}, "items.parquet", "type"),
        "augmented rows in landing": ({"items.parquet": items(), "interactions.parquet": _with(ok, source=["augmented"] * n)}, "interactions.parquet", "observed source"),
    }
