"""Training sets through Feast: point-in-time joins against interaction times.

Each row of the entity frame (user_id, item_id, event_timestamp) gets the features as
they were known just before that time: the latest snapshot whose event_timestamp is at
or before it, and snapshots become visible only after their last event (see
`recaug.features.snapshots`), so an interaction never leaks into its own features.

Views are joined one at a time and put back together by row: Feast's file (dask)
offline store drops an entity row entirely when every row of a view for that entity
lies after the entity's time, which would also lose the other views' features.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from recaug import io
from recaug.data.schemas import OBSERVED
from recaug.features.errors import FeastStateError, FeatureInputError

if TYPE_CHECKING:
    import pandas as pd

    from recaug.settings import Settings

log = logging.getLogger(__name__)

TRAINING_SERVICE = "training"


def interaction_entities(settings: "Settings") -> "pd.DataFrame":
    """Observed interactions as a Feast entity frame: user_id, item_id, event_timestamp."""
    url = settings.lake.interactions
    if not io.exists(url):
        raise FeatureInputError(f"{url}: not found; run `recaug ingest` first")
    frame = io.read_parquet(url, columns=["user_id", "item_id", "timestamp", "source"])
    frame = frame[frame["source"].fillna(OBSERVED) == OBSERVED]
    return frame.rename(columns={"timestamp": "event_timestamp"})[["user_id", "item_id", "event_timestamp"]].reset_index(drop=True)


def training_frame(
    settings: "Settings", entity_df: "pd.DataFrame | None" = None, feature_service: str = TRAINING_SERVICE
) -> "pd.DataFrame":
    """`get_historical_features` of a feature service for `entity_df` (default: every
    observed interaction), rows in the order of `entity_df`."""
    import pandas as pd

    from recaug.features.repo import FeastRepo

    entities = interaction_entities(settings) if entity_df is None else entity_df.reset_index(drop=True)
    missing = [c for c in ("user_id", "event_timestamp") if c not in entities.columns]
    if missing:
        raise FeatureInputError(f"entity frame: missing column(s) {missing} (need user_id, event_timestamp[, item_id])")
    repo = FeastRepo(settings)
    if not repo.registry_exists():
        raise FeastStateError(f"no Feast registry in {repo.state_dir}; run `recaug features apply` first")
    entities = entities.assign(
        event_timestamp=pd.to_datetime(entities["event_timestamp"], utc=True), _row=range(len(entities)),
        # the offline store reads ids as pandas strings; equal dtypes keep its join exact and quiet
        **{key: entities[key].astype("string") for key in ("user_id", "item_id") if key in entities.columns},
    )
    store = repo.open_store()
    service = store.get_feature_service(feature_service)
    log.info("features: point-in-time join of %d rows with feature service %s", len(entities), feature_service)
    frame = entities
    for projection in service.feature_view_projections:
        refs = [f"{projection.name_to_use()}:{feature.name}" for feature in projection.features]
        joined = store.get_historical_features(entity_df=entities, features=refs).to_df()
        frame = frame.merge(joined[["_row", *(f.name for f in projection.features)]], on="_row", how="left")
    return frame.sort_values("_row").drop(columns="_row").reset_index(drop=True)
