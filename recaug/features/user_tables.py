"""User feature tables: behaviour snapshots, recent-history snapshots, profile embeddings, attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recaug.data.schemas import AUGMENTED, MULTI_VALUE_SEPARATOR, OBSERVED
from recaug.features.cumulative import CHUNK_CELLS, concatenated_ranges, first_rows, list_column, running_counts
from recaug.features.snapshots import buckets, unix_seconds, visible_at
from recaug.features.tables import TIMESTAMP

if TYPE_CHECKING:
    import pandas as pd

    from recaug.features.inputs import Embeddings

KEYS = ["user_id", "bucket"]


def user_behaviour(events: "pd.DataFrame", items: "pd.DataFrame", every: str, top_k: int) -> "pd.DataFrame":
    """Cumulative behaviour per user, one row per (user, active bucket).

    `events` must be sorted by user then time (the order `load_inputs` returns).
    """
    import numpy as np
    import pandas as pd

    ev = events[["user_id", "item_id", "timestamp", "rating", "source"]].copy()
    ev["bucket"] = buckets(ev["timestamp"], every)
    ev["is_augmented"] = ev["source"].eq(AUGMENTED)
    ev["new_item"] = ~ev.duplicated(["user_id", "item_id"])
    ev["new_day"] = ~ev.assign(day=ev["timestamp"].dt.floor("D")).duplicated(["user_id", "day"])
    ev["has_rating"] = ev["rating"].notna()
    ev["rating_value"] = ev["rating"].fillna(0.0)

    per_bucket = ev.groupby(KEYS, sort=True).agg(
        n_events=("item_id", "size"), n_items=("new_item", "sum"), n_augmented=("is_augmented", "sum"),
        active_days=("new_day", "sum"), rating_sum=("rating_value", "sum"), rating_n=("has_rating", "sum"),
        last_ts=("timestamp", "max"),
    )
    cumulative = per_bucket.drop(columns="last_ts").groupby(level="user_id").cumsum()
    first_ts = ev.groupby("user_id")["timestamp"].min()
    out = cumulative.reset_index()
    out["last_ts"] = per_bucket["last_ts"].to_numpy()
    out["first_ts"] = out["user_id"].map(first_ts)
    out["mean_rating"] = np.where(out["rating_n"] > 0, out["rating_sum"] / out["rating_n"].where(out["rating_n"] > 0, 1), np.nan)
    span_hours = (out["last_ts"] - out["first_ts"]).dt.total_seconds() / 3600.0
    out["mean_gap_hours"] = np.where(out["n_events"] > 1, span_hours / (out["n_events"] - 1).clip(lower=1), np.nan)

    snapshot = ev.groupby(KEYS, sort=True).ngroup().to_numpy()  # each event's row of `out`
    user_first = first_rows(per_bucket.index.codes[0])
    n_events = out["n_events"].to_numpy(dtype=np.float64)
    out["hour_shares"] = _shares(snapshot, ev["timestamp"].dt.hour.to_numpy(), 24, user_first, n_events)
    out["weekday_shares"] = _shares(snapshot, ev["timestamp"].dt.weekday.to_numpy(), 7, user_first, n_events)
    out["top_categories"], out["top_category_shares"] = _top_categories(ev, items, snapshot, user_first, top_k)

    out[TIMESTAMP] = visible_at(out["last_ts"])
    out["first_event_unix"] = unix_seconds(out["first_ts"])
    out["last_event_unix"] = unix_seconds(out["last_ts"])
    for column in ("n_events", "n_items", "n_augmented", "active_days"):
        out[column] = out[column].astype("int64")
    return out


def _shares(snapshot: "np.ndarray", codes: "np.ndarray", width: int, user_first: "np.ndarray",
            totals: "np.ndarray") -> "pd.Series":
    """Per snapshot, the share of the user's events so far with each code 0..width-1 (a list column)."""
    import numpy as np
    import pyarrow as pa

    shares = np.empty((len(user_first), width), dtype=np.float32)
    for start, stop, counts in running_counts(snapshot, codes.astype(np.int64), width, user_first):
        shares[start:stop] = counts / totals[start:stop, None]
    return list_column(np.full(len(user_first), width), pa.array(shares.reshape(-1)))


def _top_categories(ev: "pd.DataFrame", items: "pd.DataFrame", snapshot: "np.ndarray", user_first: "np.ndarray",
                    top_k: int) -> tuple["pd.Series", "pd.Series"]:
    """The user's most frequent item categories so far and their share of category mentions
    (ties: the category first in alphabetical order), as list columns."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    categories = (
        items[["item_id", "categories"]].dropna()
        .assign(category=lambda d: d["categories"].str.split(MULTI_VALUE_SEPARATOR))
        .explode("category")
        .assign(category=lambda d: d["category"].str.strip())
    )
    categories = categories[categories["category"].fillna("") != ""]
    names = np.array(sorted(categories["category"].unique()), dtype=object)
    # item -> its category codes (a CSR: item_start[i]..item_start[i + 1] in category_codes)
    item_codes, item_index = pd.factorize(categories["item_id"], sort=True)
    order = np.argsort(item_codes, kind="stable")
    category_codes = np.searchsorted(names, categories["category"].to_numpy(dtype=object)[order]).astype(np.int64)
    item_start = np.searchsorted(item_codes[order], np.arange(len(item_index) + 1))
    lengths = np.zeros(len(user_first), dtype=np.int64)
    if top_k <= 0 or not len(names) or not len(user_first):
        return list_column(lengths, pa.array([], pa.string())), list_column(lengths, pa.array([], pa.float32()))
    event_item = item_index.get_indexer(ev["item_id"])
    known = event_item >= 0
    per_event = np.zeros(len(ev), dtype=np.int64)
    per_event[known] = np.diff(item_start)[event_item[known]]
    # one mention per (event, category of its item): the event's snapshot row and the category's code
    codes = category_codes[concatenated_ranges(np.where(known, item_start[np.maximum(event_item, 0)], 0), per_event)]
    rows = np.repeat(snapshot, per_event)

    top_codes, top_shares = [], []
    width, k = len(names), min(top_k, len(names))
    for start, stop, counts in running_counts(rows, codes, width, user_first):
        key = counts * width + (width - 1 - np.arange(width))  # unique per row; ties -> the earlier name
        top = np.argpartition(-key, k - 1, axis=1)[:, :k] if k < width else np.broadcast_to(np.arange(width), key.shape)
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(key, top, axis=1), axis=1), axis=1)
        top_counts = np.take_along_axis(counts, top, axis=1)
        kept = top_counts > 0
        totals = counts.sum(axis=1, keepdims=True)
        lengths[start:stop] = kept.sum(axis=1)
        top_codes.append(top[kept])
        top_shares.append((top_counts / np.maximum(totals, 1))[kept].astype(np.float32))
    category_names = pa.array(names.tolist(), pa.string()).take(pa.array(np.concatenate(top_codes)))
    return list_column(lengths, category_names), list_column(lengths, pa.array(np.concatenate(top_shares)))


def user_history(events: "pd.DataFrame", every: str, length: int) -> "pd.DataFrame":
    """The last `length` observed items (and Unix-second times) per user and active bucket.

    Only observed events: serving builds the model input from what the user really did.
    """
    import numpy as np
    import pyarrow as pa

    observed = events[events["source"] == OBSERVED].reset_index(drop=True)
    observed = observed.assign(bucket=buckets(observed["timestamp"], every), row=np.arange(len(observed)))
    user_start = observed.groupby("user_id")["row"].transform("min")
    observed["user_start"] = user_start
    snaps = observed.groupby(KEYS, sort=True).agg(
        end=("row", "max"), start_of_user=("user_start", "first"), last_ts=("timestamp", "max")
    ).reset_index()
    starts = np.maximum(snaps["start_of_user"].to_numpy(), snaps["end"].to_numpy() - length + 1)
    lengths = snaps["end"].to_numpy() + 1 - starts
    # each snapshot's window starts..starts+length of the observed events, gathered as flat Arrow values
    item_ids, seconds = pa.array(observed["item_id"], pa.string()), pa.array(unix_seconds(observed["timestamp"]), pa.int64())
    positions = [concatenated_ranges(starts[a:b], lengths[a:b]) for a, b in _spans(lengths, CHUNK_CELLS)]
    snaps["history_item_ids"] = list_column(lengths, pa.concat_arrays([item_ids.take(p) for p in positions] or [item_ids[:0]]))
    snaps["history_timestamps"] = list_column(lengths, pa.concat_arrays([seconds.take(p) for p in positions] or [seconds[:0]]))
    snaps["history_length"] = lengths.astype("int64")
    snaps[TIMESTAMP] = visible_at(snaps["last_ts"])
    return snaps


def _spans(lengths: "np.ndarray", cells: int) -> list[tuple[int, int]]:
    """Consecutive row spans whose lengths sum to about `cells` (at least one row each)."""
    import numpy as np

    bounds = np.searchsorted(np.cumsum(lengths), np.arange(cells, int(lengths.sum()), cells), side="right")
    edges = [0, *sorted(set(bounds.tolist()) - {0, len(lengths)}), len(lengths)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def user_profile(events: "pd.DataFrame", embeddings: "Embeddings | None", previous: "pd.DataFrame | None",
                 versions: int) -> "pd.DataFrame":
    """Profile embeddings, each visible only after the last event it may summarise, one row per
    user per night their profile changed (the newest `versions` kept).

    A profile is written from the user's history as of tonight, so it is stamped with their
    last event. Earlier nights' rows (`previous`: the table as last built) stay, so a training
    position between two nights reads the profile of the earlier one instead of none: without
    them no position before a user's last event could read any profile. A user's history is
    dropped with their current profile (profiles switched off, user forgotten) or when the
    encoder changed (vectors of two encoders do not mix); rows stamped at or after tonight's
    come from data that has been rolled back and go too. An unchanged profile adds no row.
    """
    import numpy as np
    import pandas as pd

    columns = ["user_id", TIMESTAMP, "profile_embedding", "profile_encoder"]
    if embeddings is None or not embeddings.ids:
        return pd.DataFrame({"user_id": pd.Series([], dtype="string"), TIMESTAMP: pd.Series([], dtype="datetime64[ns, UTC]"),
                             "profile_embedding": pd.Series([], dtype=object), "profile_encoder": pd.Series([], dtype="string")})
    last_event = events.groupby("user_id")["timestamp"].max()
    out = pd.DataFrame({"user_id": embeddings.ids, "profile_encoder": embeddings.encoders})
    out["profile_embedding"] = list(embeddings.vectors)
    last = out["user_id"].map(last_event).fillna(events["timestamp"].max())
    out[TIMESTAMP] = visible_at(last.astype("datetime64[ns, UTC]"))
    out = out[columns]
    if previous is None or previous.empty:
        return out
    tonight = out.set_index("user_id")
    earlier = previous[columns].astype({"user_id": "string", TIMESTAMP: "datetime64[ns, UTC]"})
    earlier = earlier[earlier["user_id"].isin(tonight.index)]
    current = tonight.loc[earlier["user_id"]]
    earlier = earlier[(earlier["profile_encoder"].to_numpy() == current["profile_encoder"].to_numpy())
                      & (earlier[TIMESTAMP].astype("int64").to_numpy() < current[TIMESTAMP].astype("int64").to_numpy())]
    newest = earlier.sort_values(["user_id", TIMESTAMP]).drop_duplicates("user_id", keep="last").set_index("user_id")
    if len(newest):
        same = np.array([np.array_equal(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))
                         for a, b in zip(newest["profile_embedding"], tonight.loc[newest.index, "profile_embedding"])])
        out = out[~out["user_id"].isin(newest.index[same])]
    merged = pd.concat([earlier, out], ignore_index=True).sort_values(["user_id", TIMESTAMP], kind="stable")
    return merged.groupby("user_id", sort=False).tail(versions).reset_index(drop=True)


ATTRIBUTE_COLUMNS = ("age", "gender", "occupation", "region")


def user_attributes(users: "pd.DataFrame", events: "pd.DataFrame") -> "pd.DataFrame":
    """Declared attributes (curated/users.parquet), one row per user, visible from sign-up:
    the earlier of `first_seen` and the user's first event (the Unix epoch when neither is
    known). They are stated by the user, not derived from events, so they leak nothing."""
    import pandas as pd

    out = pd.DataFrame({"user_id": users["user_id"].astype("string")})
    for column in ATTRIBUTE_COLUMNS:
        values = users[column] if column in users else pd.Series([None] * len(users), index=users.index)
        out[column] = pd.to_numeric(values, errors="coerce").astype("float64") if column == "age" \
            else values.astype("string").str.strip().replace("", pd.NA)
    first_event = events.groupby("user_id")["timestamp"].min()
    signup = users["first_seen"] if "first_seen" in users else pd.Series(pd.NaT, index=users.index)
    known = pd.concat([signup.astype("datetime64[ns, UTC]").reset_index(drop=True),
                       out["user_id"].map(first_event).astype("datetime64[ns, UTC]").reset_index(drop=True)], axis=1)
    out[TIMESTAMP] = known.min(axis=1).fillna(pd.Timestamp(0, tz="UTC")).astype("datetime64[ns, UTC]").to_numpy()
    return out.drop_duplicates("user_id", keep="last").reset_index(drop=True)
