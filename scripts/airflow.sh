#!/usr/bin/env bash
# Airflow standalone (scheduler, API server + UI, DAG processor, triggerer) with
# recaug's DAGs, on 127.0.0.1 only. State lives in var/airflow (SQLite); the JWT secret
# is generated there on first start and never leaves var/.
#   scripts/airflow.sh [start]   start in the background and print how to log in
#   scripts/airflow.sh stop      stop every Airflow process it started, running tasks included
#   scripts/airflow.sh status
# RECAUG_AIRFLOW_SCHEDULE=1 also runs the nightly schedule (off by default locally).
# AIRFLOW_HOME_DIR, AIRFLOW_PORT and AIRFLOW_DAGS_DIR move the state, the port and the
# DAGs folder; AIRFLOW_STOP_GRACE is the seconds tasks get between SIGTERM and SIGKILL.
# Every process of an instance carries RECAUG_AIRFLOW_INSTANCE=<token> in its environment:
# tasks run in process groups of their own, so stop finds them by that token.
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
token_file="$home/standalone.instance"

running() { [[ -f "$pgid_file" ]] && kill -0 -- "-$(cat "$pgid_file")" 2>/dev/null; }

case "${1:-start}" in
  stop)
    running && echo "stopping airflow (pgid $(cat "$pgid_file"))"
    token="$(cat "$token_file" 2>/dev/null || true)"
    leader="$(cat "$pgid_file" 2>/dev/null || true)"
    "$py" "$root/scripts/airflow_stop.py" --home "$home" ${token:+--token "$token"} ${leader:+--leader "$leader"} \
      --grace "${AIRFLOW_STOP_GRACE:-30}" && status=0 || status=$?
    rm -f "$pgid_file" "$token_file"
    exit $status ;;
  status)
    if running; then echo "airflow running on http://127.0.0.1:$(cat "$port_file") (pgid $(cat "$pgid_file"))"; else echo "airflow is not running"; exit 1; fi
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

if running; then
  echo "airflow already running on http://127.0.0.1:$(cat "$port_file")"; exit 0
fi
if [[ -f "$token_file" ]]; then  # processes a crashed or killed instance left behind
  "$py" "$root/scripts/airflow_stop.py" --home "$home" --token "$(cat "$token_file")" --grace "${AIRFLOW_STOP_GRACE:-30}" || true
fi
port="${AIRFLOW_PORT:-$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
eval "$("$py" -m recaug.orchestrate.airflow_env --home "$home" --root "$root" --port "$port")"
if [[ -n "${AIRFLOW_DAGS_DIR:-}" ]]; then export AIRFLOW__CORE__DAGS_FOLDER="$AIRFLOW_DAGS_DIR"; fi
RECAUG_AIRFLOW_INSTANCE="$("$py" -c 'import secrets; print(secrets.token_hex(16))')"
export RECAUG_AIRFLOW_INSTANCE
echo "$RECAUG_AIRFLOW_INSTANCE" > "$token_file"
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
