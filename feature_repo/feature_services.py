"""What each consumer reads, as named feature services."""

from __future__ import annotations

from feast import FeatureService
from item_features import item_content, item_popularity
from user_features import user_attributes, user_behaviour, user_history, user_profile

training = FeatureService(
    name="training",
    features=[
        user_behaviour,
        item_popularity,
        item_content[["categories", "brand", "price", "first_seen_unix", "has_embedding", "embedding"]],
    ],
    description="point-in-time features joined onto (user_id, item_id, event_timestamp) rows",
)

# Per-user inputs of the model's user tower, joined at the time the model would answer
# (recaug.train.user_features): declared attributes and the LLM profile embedding.
training_users = FeatureService(
    name="training_users",
    features=[user_attributes, user_profile[["profile_embedding"]]],
    description="point-in-time user attributes and profile embedding for (user_id, event_timestamp) rows",
)

# The recommender's input is history + timestamps; the declared attributes pick the
# segment whose popular items a user without history gets. Nothing else: the SQLite and
# Redis stores read every feature of a view per entity, so each extra view costs a query
# plus all of its features (the attributes are four small ones); and no embedding, whose
# 384 floats would dominate the server's JSON.
user_serving = FeatureService(
    name="user_serving",
    features=[user_history, user_attributes],
    description="online model input and declared attributes for the recommendation gateway",
)

# For models with a user tower (params.json "user_features"): history plus what the tower reads.
user_serving_personal = FeatureService(
    name="user_serving_personal",
    features=[user_history, user_attributes, user_profile[["profile_embedding"]]],
    description="online model input for models that read user attributes and the profile embedding",
)

user_serving_full = FeatureService(
    name="user_serving_full",
    features=[user_history, user_attributes, user_behaviour, user_profile],
    description="everything known about a user online, profile embedding included",
)

item_lookup = FeatureService(
    name="item_lookup",
    features=[item_content[["title", "categories", "keywords", "llm_description", "has_embedding", "embedding"]]],
    description="item title, LLM keywords and description, and embedding for the gateway",
)
