"""User feature tables: behaviour snapshots, recent-history snapshots, profile embeddings, attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recaug.data.schemas import AUGMENTED, MULTI_VALUE_SEPARATOR, OBSERVED
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

    counts = out["n_events"].to_numpy(dtype=np.float64)[:, None]
    hours = _cumulative_counts(ev, ev["timestamp"].dt.hour, range(24), per_bucket.index)
    weekdays = _cumulative_counts(ev, ev["timestamp"].dt.weekday, range(7), per_bucket.index)
    out["hour_shares"] = list((hours / counts).astype(np.float32))
    out["weekday_shares"] = list((weekdays / counts).astype(np.float32))
    out["top_categories"], out["top_category_shares"] = _top_categories(ev, items, per_bucket.index, top_k)

    out[TIMESTAMP] = visible_at(out["last_ts"])
    out["first_event_unix"] = unix_seconds(out["first_ts"])
    out["last_event_unix"] = unix_seconds(out["last_ts"])
    for column in ("n_events", "n_items", "n_augmented", "active_days"):
        out[column] = out[column].astype("int64")
    return out


def _cumulative_counts(ev: "pd.DataFrame", category: "pd.Series", columns, index) -> "np.ndarray":
    """Running count of events per value of `category`, aligned to the (user, bucket) index."""
    counts = ev.groupby([ev["user_id"], ev["bucket"], category.rename("value")]).size().unstack(fill_value=0)
    counts = counts.reindex(index=index, columns=list(columns), fill_value=0)
    return counts.groupby(level="user_id").cumsum().to_numpy(dtype="float64")


def _top_categories(ev: "pd.DataFrame", items: "pd.DataFrame", index, top_k: int):
    """The user's most frequent item categories so far and their share of category mentions."""
    import numpy as np

    categories = (
        items[["item_id", "categories"]].dropna()
        .assign(category=lambda d: d["categories"].str.split(MULTI_VALUE_SEPARATOR))
        .explode("category")
        .assign(category=lambda d: d["category"].str.strip())
    )
    categories = categories[categories["category"].fillna("") != ""]
    mentions = ev[["user_id", "bucket", "item_id"]].merge(categories[["item_id", "category"]], on="item_id")
    if mentions.empty:
        return [[] for _ in range(len(index))], [np.zeros(0, dtype=np.float32) for _ in range(len(index))]
    counts = mentions.groupby(["user_id", "bucket", "category"]).size().unstack(fill_value=0)
    counts = counts.reindex(index=index, fill_value=0).groupby(level="user_id").cumsum()
    names = np.asarray(counts.columns, dtype=object)
    matrix = counts.to_numpy(dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :top_k]
    top_names, top_shares = [], []
    for row, columns in enumerate(order):
        columns = columns[matrix[row, columns] > 0]
        top_names.append(names[columns].tolist())
        top_shares.append(shares[row, columns].astype(np.float32))
    return top_names, top_shares


def user_history(events: "pd.DataFrame", every: str, length: int) -> "pd.DataFrame":
    """The last `length` observed items (and Unix-second times) per user and active bucket.

    Only observed events: serving builds the model input from what the user really did.
    """
    import numpy as np

    observed = events[events["source"] == OBSERVED].reset_index(drop=True)
    observed = observed.assign(bucket=buckets(observed["timestamp"], every), row=np.arange(len(observed)))
    user_start = observed.groupby("user_id")["row"].transform("min")
    observed["user_start"] = user_start
    snaps = observed.groupby(KEYS, sort=True).agg(
        end=("row", "max"), start_of_user=("user_start", "first"), last_ts=("timestamp", "max")
    ).reset_index()
    item_ids = observed["item_id"].to_numpy(dtype=object)
    seconds = unix_seconds(observed["timestamp"]).to_numpy(dtype=np.int64)
    starts = np.maximum(snaps["start_of_user"].to_numpy(), snaps["end"].to_numpy() - length + 1)
    ends = snaps["end"].to_numpy() + 1
    snaps["history_item_ids"] = [item_ids[s:e].tolist() for s, e in zip(starts, ends)]
    snaps["history_timestamps"] = [seconds[s:e] for s, e in zip(starts, ends)]
    snaps["history_length"] = (ends - starts).astype("int64")
    snaps[TIMESTAMP] = visible_at(snaps["last_ts"])
    return snaps


def user_profile(events: "pd.DataFrame", embeddings: "Embeddings | None") -> "pd.DataFrame":
    """Profile embeddings, visible only after the last event they may summarise.

    Profiles are written from a user's whole history, so a training row earlier than the
    user's last event must not see them.
    """
    import pandas as pd

    if embeddings is None or not embeddings.ids:
        return pd.DataFrame({"user_id": pd.Series([], dtype="string"), TIMESTAMP: pd.Series([], dtype="datetime64[ns, UTC]"),
                             "profile_embedding": pd.Series([], dtype=object), "profile_encoder": pd.Series([], dtype="string")})
    last_event = events.groupby("user_id")["timestamp"].max()
    out = pd.DataFrame({"user_id": embeddings.ids, "profile_encoder": embeddings.encoders})
    out["profile_embedding"] = list(embeddings.vectors)
    last = out["user_id"].map(last_event).fillna(events["timestamp"].max())
    out[TIMESTAMP] = visible_at(last.astype("datetime64[ns, UTC]"))
    return out


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
