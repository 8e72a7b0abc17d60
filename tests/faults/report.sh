#!/bin/sh
# Print the fault suite's rows (faults.tsv: fault, answered, errors, time
# without service, lost) as a table.  Fails when a row lost anything.
tsv=$1
if [ ! -s "$tsv" ]; then
    echo "faults.report: no rows in $tsv (no fault test ran)"
    exit 0
fi
awk -F '\t' '
BEGIN { printf "%-34s | %9s | %-58s | %12s | %4s\n", "fault", "answered", "errors", "no service s", "lost"
        printf "%s\n", "-----------------------------------+-----------+------------------------------------------------------------+--------------+-----" }
{ printf "%-34s | %9s | %-58s | %12s | %4s\n", $1, $2, $3, $4, $5; if ($5 != 0) bad = 1 }
END { exit bad }' "$tsv"
