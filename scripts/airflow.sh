#!/usr/bin/env bash
# Airflow standalone (scheduler, API server + UI, DAG processor, triggerer) with
# recaug's DAGs, on 127.0.0.1 only. State lives in var/airflow (SQLite); the JWT secret
# is generated there on first start and never leaves var/.
#   scripts/airflow.sh [start]   start in the background and print how to log in
#   scripts/airflow.sh stop      stop every Airflow process it started
#   scripts/airflow.sh status
# RECAUG_AIRFLOW_SCHEDULE=1 also runs the nightly schedule (off by default locally).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
home="${AIRFLOW_HOME_DIR:-$root/var/airflow}"
py="${PYTHON:-$root/.venv/bin/python}"
export PATH="$(dirname "$py"):$PATH"
mkdir -p "$home"
pgid_file="$home/standalone.pgid"
port_file="$home/standalone.port"
log_file="$home/standalone.log"

running() { [[ -f "$pgid_file" ]] && kill -0 -- "-$(cat "$pgid_file")" 2>/dev/null; }

case "${1:-start}" in
  stop)
    if running; then
      kill -TERM -- "-$(cat "$pgid_file")"
      for _ in $(seq 30); do running || break; sleep 1; done
      running && kill -KILL -- "-$(cat "$pgid_file")" || true
      echo "airflow stopped"
    else
      echo "airflow is not running"
    fi
    rm -f "$pgid_file"
    exit 0 ;;
  status)
    if running; then echo "airflow running on http://127.0.0.1:$(cat "$port_file") (pgid $(cat "$pgid_file"))"; else echo "airflow is not running"; exit 1; fi
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

if running; then
  echo "airflow already running on http://127.0.0.1:$(cat "$port_file")"; exit 0
fi
port="${AIRFLOW_PORT:-$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
eval "$("$py" -m recaug.orchestrate.airflow_env --home "$home" --root "$root" --port "$port")"
# A local standalone is for runs triggered by hand (UI form or REST). With the schedule
# on, the scheduler would start the most recent nightly run at once on the default lake.
if [[ "${RECAUG_AIRFLOW_SCHEDULE:-0}" != "1" ]]; then
  export AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False
fi
airflow db migrate >/dev/null
airflow pools set gpu "${RECAUG_GPU_POOL_SLOTS:-1}" "augmentation and embedding (GPU work)" >/dev/null
setsid airflow standalone >"$log_file" 2>&1 < /dev/null &
echo $! > "$pgid_file"   # setsid makes the child a group leader: its pid is the pgid
echo "$port" > "$port_file"
echo -n "starting airflow on http://127.0.0.1:$port "
for _ in $(seq 120); do
  if curl -fsS "http://127.0.0.1:$port/api/v2/monitor/health" >/dev/null 2>&1; then break; fi
  running || { echo; echo "airflow exited; see $log_file" >&2; tail -20 "$log_file" >&2; exit 1; }
  echo -n "."; sleep 1
done
echo
passwords="$home/simple_auth_manager_passwords.json.generated"
for _ in $(seq 30); do [[ -f "$passwords" ]] && break; sleep 1; done
echo "UI:       http://127.0.0.1:$port  (DAG: recaug_nightly)"
echo "login:    user 'admin', password in $passwords"
echo "logs:     $log_file"
echo "stop:     scripts/airflow.sh stop"
