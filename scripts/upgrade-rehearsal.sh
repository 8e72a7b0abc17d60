#!/usr/bin/env bash
# upgrade-rehearsal.sh OLD_BIN NEW_BIN — docs/operations.md#upgrade-with-migrations-while-two-daemons-serve
# on a private cluster: two daemons of the older build serve under load (a
# create loop against each) while the newer build's `migrate` applies its new
# migrations; a daemon of the newer build started before the migration shows
# what /readyz says then, and after.  Prints what each daemon answered.
# Build the older one from a commit with, e.g.:
#   git archive OLDCOMMIT | tar -x -C /tmp/old && cmake -S /tmp/old -B /tmp/old/build \
#     -DBUILD_TESTING=OFF && cmake --build /tmp/old/build -j2 --target escalated
set -euo pipefail
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/escalated-upgrade.XXXXXX)
"$ROOT/scripts/pg.sh" start-test $W/pg.state >/dev/null
trap 'kill $(jobs -p) 2>/dev/null || true; "$ROOT/scripts/pg.sh" stop-test $W/pg.state >/dev/null; rm -rf $W' EXIT
. $W/pg.state
export ESCALATED_DB="host=$PGHOST port=$PGPORT user=postgres dbname=postgres"
export ESCALATED_DATA_KEY_FILE=$W/data.key
$OLD data-key create 2>/dev/null
$OLD migrate 2>/dev/null
FD=$($OLD keys create --name fd --role frontdesk 2>/dev/null)
$OLD serve --listen 127.0.0.1:0 2>$W/a.log & A=$!
$OLD serve --listen 127.0.0.1:0 2>$W/b.log & B=$!
sleep 1.5
PA=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' $W/a.log)
PB=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' $W/b.log)
load() { # PORT OUT
  local end=$((SECONDS + 8))
  while [[ $SECONDS -lt $end ]]; do
    curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $FD" -H 'Content-Type: application/json' \
      -d '{"subject":"during upgrade","severity":"normal"}' http://127.0.0.1:$1/v1/tickets >>$2
  done
}
load $PA $W/a.codes & LA=$!
load $PB $W/b.codes & LB=$!
sleep 2
# a daemon of the new build before the migration: what /readyz says
$NEW serve --listen 127.0.0.1:0 2>$W/c.log & C=$!
sleep 1.5
PC=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' $W/c.log)
echo "new daemon before migrate: /readyz $(curl -s -w ' %{http_code}' http://127.0.0.1:$PC/readyz)"
echo "new daemon before migrate: POST /v1/tickets $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $FD" -H 'Content-Type: application/json' -d '{"subject":"x","severity":"normal"}' http://127.0.0.1:$PC/v1/tickets)"
t0=$(date +%s.%N)
$NEW migrate 2>&1 | tail -2
t1=$(date +%s.%N)
echo "migrate took $(awk "BEGIN {printf \"%.3f\", $t1 - $t0}") s"
sleep 1
echo "new daemon after migrate: /readyz $(curl -s -w ' %{http_code}' http://127.0.0.1:$PC/readyz)"
echo "new daemon after migrate: POST /v1/tickets $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $FD" -H 'Content-Type: application/json' -d '{"subject":"x","severity":"normal"}' http://127.0.0.1:$PC/v1/tickets)"
wait $LA $LB
echo "old daemon A during the upgrade: $(sort $W/a.codes | uniq -c | tr '\n' ' ')"
echo "old daemon B during the upgrade: $(sort $W/b.codes | uniq -c | tr '\n' ' ')"
echo "old daemons' /readyz after: $(curl -s http://127.0.0.1:$PA/readyz) $(curl -s http://127.0.0.1:$PB/readyz)"
grep -h " warn \| error " $W/a.log $W/b.log | head -5 || true
kill -TERM $A $B $C
for p in $A $B $C; do rc=0; wait $p || rc=$?; echo "daemon $p exit status $rc"; done
