"""A small curated lake for augmentation tests (unit and integration): dense and sparse
users, a few cold items, written through the real schemas and lake writer."""

from __future__ import annotations

import pandas as pd

from recaug import io
from recaug.data import schemas

ITEMS = [
    ("i01", "Trail Running Shoes", "Sports|Running", "lightweight|grip", "Stride", "Breathable shoes for rough trails."),
    ("i02", "Running Socks", "Sports|Running", "cotton", "Stride", None),
    ("i03", "Water Bottle", "Sports|Outdoor", "steel", "Flow", "Keeps drinks cold."),
    ("i04", "Headlamp", "Outdoor|Camping", "led", "Lumo", None),
    ("i05", "Camping Tent", "Outdoor|Camping", "two person", "Nest", "A light tent for two."),
    ("i06", "Sleeping Bag", "Outdoor|Camping", "down", "Nest", None),
    ("i07", "Espresso Machine", "Kitchen|Coffee", "steam", "Brava", "Makes espresso at home."),
    ("i08", "Coffee Grinder", "Kitchen|Coffee", "burr", "Brava", None),
    ("i09", "Milk Frother", "Kitchen|Coffee", None, None, None),
    ("i10", "Yoga Mat", "Sports|Yoga", "non slip", "Zen", None),
]

# user -> items in time order; u1..u4 are dense, u5..u7 sparse (<= 2 events)
HISTORIES = {
    "u1": ["i01", "i02", "i03", "i04"],
    "u2": ["i01", "i02", "i03", "i10"],
    "u3": ["i04", "i05", "i06", "i03"],
    "u4": ["i07", "i08", "i09", "i03"],
    "u5": ["i01"],
    "u6": ["i07"],
    "u7": ["i05", "i04"],
}


def write_curated(settings, items=ITEMS, histories=HISTORIES) -> None:
    start = pd.Timestamp("2026-01-01", tz="UTC")
    frame = pd.DataFrame(items, columns=["item_id", "title", "categories", "tags", "brand", "description"])
    frame["first_seen"] = [start + pd.Timedelta(days=i) for i in range(len(frame))]
    rows = [
        {"user_id": u, "item_id": i, "timestamp": start + pd.Timedelta(days=10 + n, hours=k)}
        for k, (u, seq) in enumerate(histories.items()) for n, i in enumerate(seq)
    ]
    io.write_parquet(schemas.conform(frame, schemas.ITEMS), settings.lake.items)
    io.write_parquet(schemas.conform(pd.DataFrame(rows), schemas.INTERACTIONS), settings.lake.interactions)


def with_augment(settings, **update):
    """Settings with augment fields replaced (nested dicts are validated by pydantic)."""
    from recaug.augment.config import AugmentConfig

    merged = {**settings.augment.model_dump(), **update}
    return settings.model_copy(update={"augment": AugmentConfig.model_validate(merged)})
