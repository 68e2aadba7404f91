"""The two things features describe. Ids are strings everywhere in recaug."""

from __future__ import annotations

from feast import Entity, ValueType

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING, description="a person with a history")
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING, description="a catalogue item")
