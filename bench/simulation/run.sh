#!/usr/bin/env bash
# simulate_trial end to end on PostgreSQL: wall time and texts per second.
#   bench/simulation/run.sh [PARTICIPANTS] [WEEKS]
# Creates (drops first) the database eprp_bench_sim. The simulator is one process: the
# planner, the tick, the outbox (eager Celery) and the signed webhooks all run in it on a
# moved clock, so this measures the real paths' cost per message, not worker scaling.
set -euo pipefail
cd "$(dirname "$0")/../.."
participants=${1:-100}
weeks=${2:-2}
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS eprp_bench_sim" 2>/dev/null
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE eprp_bench_sim"
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/eprp_bench_sim LOG_LEVEL=ERROR EPRP_VAR_DIR=var/bench-sim
.venv/bin/python manage.py migrate -v0
start=$(date +%s.%N)
.venv/bin/python manage.py simulate_trial --participants "$participants" --weeks "$weeks" --seed 11 --quiet \
  > var/bench-sim/summary.txt
head -3 var/bench-sim/summary.txt
end=$(date +%s.%N)
texts=$(psql -h 127.0.0.1 -U postgres -d eprp_bench_sim -tAc \
  "select (select count(*) from notifications_inboundmessage) + (select count(*) from notifications_outboundmessage)")
python3 -c "w=$end-$start; print(f'participants $participants, weeks $weeks: wall {w:.1f} s, texts in+out $texts, {int($texts)/w:.1f} texts/s')"
