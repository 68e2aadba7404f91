"""The curated lake of tests/augment_lake.py, with the template backend."""

from __future__ import annotations

import pytest
from augment_lake import with_augment, write_curated


@pytest.fixture
def curated(settings):
    write_curated(settings)
    return settings


@pytest.fixture
def template_settings(curated):
    """make(**augment) -> settings on the curated lake with the template backend."""
    return lambda **augment: with_augment(curated, backend={"type": "template"}, **augment)
