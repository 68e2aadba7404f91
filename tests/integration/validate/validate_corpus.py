"""Landing batches written the way producers write them, good and broken."""

from __future__ import annotations

import io as stdio
from pathlib import Path

import pandas as pd

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
        "augmented rows in landing": ({"items.parquet": items(), "interactions.parquet": _with(ok, source=["augmented"] * n)}, "interactions.parquet", "observed source"),
    }
