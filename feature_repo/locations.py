"""Where the definitions find their data: read from the environment, never hard-coded.

`recaug features apply` sets these variables from the settings before it loads the
definitions; to run the plain Feast CLI on this folder, export them yourself:

    RECAUG_FEAST_DATA         folder or s3:// URL holding the feature Parquet tables
                              (default: var/lake/features of this checkout)
    RECAUG_FEAST_TTL_DAYS     feature-view TTL in days, 0 = never expire (default 0)
    RECAUG_FEAST_S3_ENDPOINT  S3-compatible endpoint for an object-store data path
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

_DEFAULT_DATA = Path(__file__).resolve().parent.parent / "var" / "lake" / "features"

DATA = os.environ.get("RECAUG_FEAST_DATA") or str(_DEFAULT_DATA)
TTL = timedelta(days=int(os.environ.get("RECAUG_FEAST_TTL_DAYS") or 0))
S3_ENDPOINT = os.environ.get("RECAUG_FEAST_S3_ENDPOINT") or None


def table(name: str) -> str:
    """The Parquet file of one feature table (the same names recaug.features.build writes)."""
    return f"{DATA.rstrip('/')}/{name}.parquet"
