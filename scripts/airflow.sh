#!/usr/bin/env bash
# Airflow with recaug's DAGs, on 127.0.0.1 only, in one of two profiles (AIRFLOW_PROFILE,
# `make airflow PROFILE=...`):
#   standalone (default)  `airflow standalone` (scheduler, API server + UI, DAG processor,
#                         triggerer, LocalExecutor); state in var/airflow (SQLite)
#   celery                CeleryExecutor: API server, scheduler, DAG processor and Celery
#                         workers, on the services named by RECAUG_AIRFLOW_DB_URL (PostgreSQL),
#                         RECAUG_BROKER_URL (RabbitMQ or Redis) and RECAUG_REDIS_URL (Feast's
#                         online store); see recaug/orchestrate/celery_profile.py
# The JWT secret is generated in the Airflow home on first start and never leaves var/.
#   scripts/airflow.sh [start]   start in the background and print how to log in
#   scripts/airflow.sh stop      stop every Airflow process it started, workers and running tasks included
#   scripts/airflow.sh status
# RECAUG_AIRFLOW_SCHEDULE=1 also runs the nightly schedule (off by default locally).
# AIRFLOW_HOME_DIR, AIRFLOW_PORT and AIRFLOW_DAGS_DIR move the state, the port and the
# DAGs folder; AIRFLOW_STOP_GRACE is the seconds tasks get between SIGTERM and SIGKILL.
# Celery workers: RECAUG_CELERY_WORKERS lists one `queues:concurrency` per worker
# (default "default:2 gpu:1": a CPU worker and a worker for the GPU queue, whose name
# RECAUG_AIRFLOW_GPU_QUEUE sets). Their logs are <home>/worker-<n>.log; they serve no
# logs over HTTP (the task logs are files in <home>/logs, shared on one machine).
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
profile="${AIRFLOW_PROFILE:-standalone}"

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
  _celery-services)  # internal: the process group `start` launches in the celery profile
    airflow api-server >"$home/api-server.log" 2>&1 < /dev/null &
    airflow scheduler >"$home/scheduler.log" 2>&1 < /dev/null &
    airflow dag-processor >"$home/dag-processor.log" 2>&1 < /dev/null &
    n=0
    for spec in $RECAUG_CELERY_WORKERS; do
      n=$((n + 1)); queues="${spec%%:*}"
      airflow celery worker --queues "$queues" --concurrency "${spec##*:}" --celery-hostname "${queues//,/-}-$n@%h" \
        --skip-serve-logs --without-gossip --without-mingle >"$home/worker-$n.log" 2>&1 < /dev/null &
    done
    wait
    exit 0 ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
case "$profile" in
  standalone|celery) ;;
  *) echo "AIRFLOW_PROFILE=$profile: expected standalone or celery" >&2; exit 2 ;;
esac

if running; then
  echo "airflow already running on http://127.0.0.1:$(cat "$port_file")"; exit 0
fi
if [[ -f "$token_file" ]]; then  # processes a crashed or killed instance left behind
  "$py" "$root/scripts/airflow_stop.py" --home "$home" --token "$(cat "$token_file")" --grace "${AIRFLOW_STOP_GRACE:-30}" || true
fi
port="${AIRFLOW_PORT:-$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
eval "$("$py" -m recaug.orchestrate.airflow_env --home "$home" --root "$root" --port "$port")"
if [[ "$profile" == celery ]]; then
  celery_exports="$("$py" -m recaug.orchestrate.celery_profile)" || exit 2  # names a missing variable
  eval "$celery_exports"
  export RECAUG_CELERY_WORKERS="${RECAUG_CELERY_WORKERS:-default:2 $RECAUG_AIRFLOW_GPU_QUEUE:1}"
fi
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
if [[ "$profile" == celery ]]; then
  setsid "$root/scripts/airflow.sh" _celery-services >"$log_file" 2>&1 < /dev/null &
else
  setsid airflow standalone >"$log_file" 2>&1 < /dev/null &
fi
echo $! > "$pgid_file"   # setsid makes the child a group leader: its pid is the pgid
echo "$port" > "$port_file"
echo -n "starting airflow ($profile) on http://127.0.0.1:$port "
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
if [[ "$profile" == celery ]]; then
  echo "workers:  $RECAUG_CELERY_WORKERS (queues:concurrency), logs $home/worker-<n>.log"
  echo "logs:     $home/{api-server,scheduler,dag-processor}.log"
else
  echo "logs:     $log_file"
fi
echo "stop:     scripts/airflow.sh stop"
