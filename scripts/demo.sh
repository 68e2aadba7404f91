#!/usr/bin/env bash
# The nightly pipeline end to end on embedded defaults (called by `make demo`):
# synthetic marketplace -> landing batches -> the recaug_nightly DAG run once with
# dag.test() (validation, DVC, augmentation, embeddings, features, Feast, training,
# gate, ONNX export, Triton deploy, report) -> Triton and the gateway left serving.
# Everything lives under var/demo/. Environment knobs:
#   DEMO_CONF='{"epochs": 3}'   Params of the run (see the DAG's trigger form)
#   RECAUG_LAKE_ROOT            lake (default var/demo/lake)
# The data is the full synthetic marketplace of params.yaml. The local LLM (SmolLM2-135M
# on CPU) needs ~35 s per item prompt on a busy 2-core machine, so the demo gives it 8 item
# enrichments; every other text gets its template and is marked `deferred` (later runs
# generate it from the cache onward). The full budget of params.yaml:
#   DEMO_CONF='{"augment_budget": 200, "overrides": {}}'   (~15 minutes on 2 free CPU cores, far longer on a loaded host)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
start_ns=$(date +%s%N)
export RECAUG_LAKE_ROOT="${RECAUG_LAKE_ROOT:-$root/var/demo/lake}"
airflow_home="$root/var/demo/airflow"
default_conf='{"epochs": 5, "embed_shards": 2, "augment_budget": 8, "overrides": {"augment.max_profiles_per_run": 0, "augment.interactions.max_users_per_run": 0}}'
conf="${DEMO_CONF:-$default_conf}"
mkdir -p var/demo

echo "== 1/4 synthetic landing batches -> $RECAUG_LAKE_ROOT/landing"
recaug data synth --out "$RECAUG_LAKE_ROOT/landing"

echo "== 2/4 nightly DAG (dag.test, AIRFLOW_HOME=$airflow_home), Params: $conf"
python -m recaug.orchestrate.local_run --home "$airflow_home" --conf "$conf" --json-out var/demo/run.json

echo "== 3/4 serving: Triton (started by the deploy task) and the gateway"
recaug serve triton status | tee var/demo/triton-status.json
triton_url="$(python -c 'import json, sys; print("http://127.0.0.1:%d" % json.load(open(sys.argv[1]))["state"]["http_port"])' var/demo/triton-status.json)"
gateway_port="$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
if [[ -f var/demo/gateway.pid ]] && kill -0 -- "-$(cat var/demo/gateway.pid)" 2>/dev/null; then
  kill -TERM -- "-$(cat var/demo/gateway.pid)"; sleep 1
fi
setsid recaug serve gateway --port "$gateway_port" > var/demo/gateway.log 2>&1 < /dev/null &
echo $! > var/demo/gateway.pid
for _ in $(seq 60); do curl -fsS "http://127.0.0.1:$gateway_port/readyz" >/dev/null 2>&1 && break; sleep 1; done

echo "== 4/4 a sample recommendation"
user="$(python -c "
import pandas as pd, os
df = pd.read_parquet(os.path.join(os.environ['RECAUG_LAKE_ROOT'], 'curated', 'interactions.parquet'), columns=['user_id'])
print(df['user_id'].value_counts().index[0])")"
echo "GET http://127.0.0.1:$gateway_port/recommend?user_id=$user&k=5"
curl -fsS "http://127.0.0.1:$gateway_port/recommend?user_id=$user&k=5" | python -m json.tool

total=$(( ($(date +%s%N) - start_ns) / 1000000 ))
python - "$total" <<'PY'
import json, sys
run = json.load(open("var/demo/run.json"))
total = int(sys.argv[1]) / 1000
print(f"\ndemo wall time {total:.1f} s (DAG run {run['wall_seconds']:.1f} s, stage compute {run['compute_seconds']:.1f} s, "
      f"orchestration overhead {run['overhead_ratio']:.0%} of the DAG run)")
print(f"report: {run['report_html']}")
PY
cat <<MSG
Left running on 127.0.0.1 (stop them when done):
  gateway  http://127.0.0.1:$gateway_port   stop: kill -TERM -- -\$(cat var/demo/gateway.pid)
  triton   $triton_url   stop: RECAUG_LAKE_ROOT=$RECAUG_LAKE_ROOT recaug serve triton stop
MSG
