"""Online feature access for serving apps (the recommendation gateway), over the Feast SDK.

A store is opened once per process and reused: opening one reads the registry, which
costs far more than a lookup. Unknown ids are not errors: they get an empty context
(`known=False`, no history, no attributes), which the gateway answers with popular items
(popular in the user's segment when the user declared attributes).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Sequence

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from feast import FeatureStore

    from recaug.settings import Settings

USER_SERVICE = "user_serving"
USER_SERVICE_FULL = "user_serving_full"
ITEM_SERVICE = "item_lookup"


class UserContext(BaseModel):
    """What serving knows about a user: the model input, and on request everything else."""

    user_id: str
    known: bool = Field(description="False when the online store has no history for this user")
    history_item_ids: list[str] = Field(default_factory=list, description="observed items, oldest first")
    history_timestamps: list[int] = Field(default_factory=list, description="Unix seconds, aligned with the items")
    attributes: dict[str, Any] = Field(default_factory=dict, description=(
        "declared attributes (age in years, gender, occupation, region), only those the user gave; "
        "empty for unknown users"))
    behaviour: dict[str, Any] = Field(default_factory=dict, description="behaviour statistics (with_profile=True only)")
    profile_embedding: list[float] | None = Field(None, description="user profile embedding (with_profile=True only)")

    @property
    def last_event_unix(self) -> int | None:
        return self.history_timestamps[-1] if self.history_timestamps else None


class ItemInfo(BaseModel):
    item_id: str
    known: bool
    title: str | None = None
    categories: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list, description="LLM enrichment keywords (empty when not enriched)")
    description: str | None = Field(None, description="LLM-written description; None when the LLM did not write one")
    embedding: list[float] | None = Field(None, description="None when unknown or not embedded yet")


class OnlineReader:
    """A FeatureStore and its feature services, resolved once.

    Resolving a feature service reads the registry (~10 ms); a lookup takes well under
    a millisecond, so both are kept for the life of the process. Call `refresh()` after
    applying new definitions to a store that a long-running app already has open.
    """

    def __init__(self, settings: "Settings"):
        from recaug.features.repo import FeastRepo

        self.store: "FeatureStore" = FeastRepo(settings).open_store()
        self._services: dict[str, Any] = {}

    def refresh(self) -> None:
        self.store.refresh_registry()
        self._services.clear()

    def service(self, name: str):
        if name not in self._services:
            self._services[name] = self.store.get_feature_service(name)
        return self._services[name]

    def feature_refs(self, service: str) -> list[str]:
        """`view:feature` references of a feature service (what the HTTP server resolves fastest)."""
        return [
            f"{projection.name_to_use()}:{feature.name}"
            for projection in self.service(service).feature_view_projections
            for feature in projection.features
        ]

    def read(self, service: str, key: str, ids: Sequence[str]) -> dict[str, list]:
        """Column-wise online features of one feature service for `ids`."""
        return self.store.get_online_features(
            features=self.service(service), entity_rows=[{key: i} for i in ids]
        ).to_dict()


_READERS: dict[str, OnlineReader] = {}
_LOCK = threading.Lock()


def online_reader(settings: "Settings | None" = None) -> OnlineReader:
    """The process-wide reader of this lake's online store (opened on first use)."""
    from recaug.features.repo import FeastRepo
    from recaug.settings import load_settings

    settings = settings or load_settings()
    key = str(FeastRepo(settings).yaml_path)
    with _LOCK:
        if key not in _READERS:
            _READERS[key] = OnlineReader(settings)
        return _READERS[key]


def get_user_context(
    user_ids: Sequence[str], settings: "Settings | None" = None, with_profile: bool = False
) -> list[UserContext]:
    """Contexts in the order of `user_ids`; `with_profile` adds every behaviour statistic
    and the profile embedding (a larger feature service)."""
    if not user_ids:
        return []
    service = USER_SERVICE_FULL if with_profile else USER_SERVICE
    columns = online_reader(settings).read(service, "user_id", user_ids)
    contexts = []
    for row, user_id in enumerate(user_ids):
        context = UserContext(
            user_id=user_id,
            known=columns["history_item_ids"][row] is not None,
            history_item_ids=columns["history_item_ids"][row] or [],
            history_timestamps=columns["history_timestamps"][row] or [],
            attributes=_attributes(columns, row),
        )
        if with_profile:
            behaviour = {name: columns[name][row] for name in _BEHAVIOUR}
            context.behaviour = behaviour if behaviour["n_events"] is not None else {}
            context.profile_embedding = columns["profile_embedding"][row]
        contexts.append(context)
    return contexts


def _attributes(columns: dict[str, list], row: int) -> dict[str, Any]:
    """The declared attributes of one row: missing ones (None, NaN age, blank text) left out."""
    from recaug.features.user_tables import ATTRIBUTE_COLUMNS

    found = {}
    for name in ATTRIBUTE_COLUMNS:
        value = columns[name][row]
        missing = value is None or (isinstance(value, float) and value != value)
        if missing or (isinstance(value, str) and not value.strip()):
            continue
        found[name] = value
    return found


_BEHAVIOUR = (
    "n_events", "n_items", "n_augmented", "mean_rating", "first_event_unix", "last_event_unix", "active_days",
    "mean_gap_hours", "hour_shares", "weekday_shares", "top_categories", "top_category_shares",
)


def get_items(item_ids: Sequence[str], settings: "Settings | None" = None) -> list[ItemInfo]:
    """Title, categories, LLM keywords and description, and embedding of items, in the order of `item_ids`."""
    from recaug.data.schemas import MULTI_VALUE_SEPARATOR

    if not item_ids:
        return []
    columns = online_reader(settings).read(ITEM_SERVICE, "item_id", item_ids)
    infos = []
    for row, item_id in enumerate(item_ids):
        title = columns["title"][row]
        has_embedding = columns["has_embedding"][row]
        if title is None and has_embedding is None:
            infos.append(ItemInfo(item_id=item_id, known=False))
            continue
        categories = columns["categories"][row] or ""
        infos.append(ItemInfo(
            item_id=item_id, known=True, title=title,
            categories=[c for c in categories.split(MULTI_VALUE_SEPARATOR) if c],
            keywords=[k for k in (columns["keywords"][row] or "").split(MULTI_VALUE_SEPARATOR) if k],
            description=columns["llm_description"][row] or None,
            embedding=columns["embedding"][row] if has_embedding else None,
        ))
    return infos
