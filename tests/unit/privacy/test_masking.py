"""Which values are masked, and what a mask keeps (only the length)."""

from __future__ import annotations

from recaug.privacy.config import PERSONAL_FIELDS
from recaug.privacy.masking import is_personal, mask_field, mask_samples


def test_a_rule_over_several_columns_is_personal_when_any_column_is():
    assert is_personal("user_id, item_id, timestamp", PERSONAL_FIELDS)
    assert is_personal(" Age ", PERSONAL_FIELDS)
    assert not is_personal("item_id, timestamp", PERSONAL_FIELDS)
    assert not is_personal(None, PERSONAL_FIELDS)


def test_masks_keep_the_length_and_nothing_of_the_content():
    assert mask_samples("user_id", ["'alice@example.com'"], PERSONAL_FIELDS) == ["<masked> (19 chars)"]
    assert mask_samples("item_id", ["' i9 '"], PERSONAL_FIELDS) == ["' i9 '"]
    assert mask_field("user_id", "alice", PERSONAL_FIELDS) == "<masked> (5 chars)"
    assert mask_field("user_id", "alice", []) == "alice"


def test_pseudonyms_are_keyed_and_stable(settings, monkeypatch):
    from recaug.privacy.pseudonyms import Pseudonymiser, key_url

    first = Pseudonymiser.for_lake(settings)("u1")
    assert first == Pseudonymiser.for_lake(settings)("u1") != Pseudonymiser.for_lake(settings)("u2")
    assert first.startswith("p-") and "u1" not in first[2:]
    assert (settings.lake.local("secrets", "pseudonym.key").stat().st_mode & 0o777) == 0o600
    assert key_url(settings).endswith("secrets/pseudonym.key")
    monkeypatch.setenv("RECAUG_PSEUDONYM_KEY", "operator-key")
    assert Pseudonymiser.for_lake(settings)("u1") != first  # another key, another pseudonym
