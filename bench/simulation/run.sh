#!/usr/bin/env bash
# simulate_trial end to end on PostgreSQL: wall time and texts per second.
#   bench/simulation/run.sh [PARTICIPANTS] [WEEKS] [WORKERS]
# Creates (drops first) the database eprp_bench_sim. WORKERS=0 (the default): the
# simulator is one process, the planner, the tick, the outbox (eager Celery) and the
# signed webhooks all run in it on a moved clock. WORKERS=N: `simulate_trial --workers N`
# starts one Celery worker with N prefork processes on Redis database 11 (flushed first),
# which runs the planner, the tick, the outbox and the patients' replies (signed webhooks
# through Django's request handling) on the simulator's clock. Run it under the shared lock:
#   flock /tmp/eprp-bench.lock bash bench/simulation/run.sh 100 2 2
set -euo pipefail
cd "$(dirname "$0")/../.."
participants=${1:-100}
weeks=${2:-2}
workers=${3:-0}
python=${PYTHON:-.venv/bin/python}
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS eprp_bench_sim" 2>/dev/null
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE eprp_bench_sim"
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/eprp_bench_sim LOG_LEVEL=ERROR EPRP_VAR_DIR=var/bench-sim
# Alert e-mails to the simulated sites would go to the console and into the summary.
export EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend
if [ "$workers" -gt 0 ]; then
  export CELERY_BROKER_URL=redis://127.0.0.1:6379/11
  redis-cli -n 11 flushdb >/dev/null
fi
"$python" manage.py migrate -v0
echo "before: $(uptime)"
start=$(date +%s.%N)
"$python" manage.py simulate_trial --participants "$participants" --weeks "$weeks" --seed 11 --quiet \
  --workers "$workers" > var/bench-sim/summary.txt
end=$(date +%s.%N)
echo "after:  $(uptime)"
head -3 var/bench-sim/summary.txt
read -r texts_in texts_out < <(psql -h 127.0.0.1 -U postgres -d eprp_bench_sim -tAF ' ' -c \
  "select (select count(*) from notifications_inboundmessage), (select count(*) from notifications_outboundmessage)")
python3 -c "w=$end-$start; t=$texts_in+$texts_out
print(f'participants $participants, weeks $weeks, workers $workers: wall {w:.1f} s, '
      f'texts in $texts_in + out $texts_out = {t}, {t/w:.1f} texts/s')"
