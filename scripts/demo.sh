#!/usr/bin/env bash
# The main job on embedded defaults: synthetic marketplace -> landing batches ->
# validation (bad batches quarantined) -> DVC versioning of accepted data.
set -euo pipefail
cd "$(dirname "$0")/.."
export RECAUG_LAKE_ROOT="${RECAUG_LAKE_ROOT:-var/demo/lake}"
recaug data synth --out "$RECAUG_LAKE_ROOT/landing"
recaug ingest
recaug data versions
