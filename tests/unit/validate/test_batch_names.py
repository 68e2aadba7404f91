from __future__ import annotations

import pytest

from recaug.validate.batch_names import is_safe_batch_name, storage_name


@pytest.mark.parametrize("name", ["2026-01-31", "batch_7", "export.v2", "a+b=c@d"])
def test_ordinary_names_are_kept(name):
    assert is_safe_batch_name(name) and storage_name(name) == name


@pytest.mark.parametrize("name", ["..", ".hidden", "-rf", "a/b", "a\nb", "caf\u00e9", "x\u202ey", "a b", "x" * 129, "", "b~1"])
def test_unsafe_names_get_a_stable_stand_in(name):
    assert not is_safe_batch_name(name)
    assert storage_name(name) == storage_name(name) != storage_name(name + "!")
    assert is_safe_batch_name(storage_name(name))
