#!/bin/sh
# unit.man_page: the generated escalated.8 ($1) renders without a groff
# warning (-ww: a help text that roff would misread fails here, not on a
# user's terminal) and names each word given after it (variables, signals).
set -eu
page=$1
shift
warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
if [ -n "$warnings" ]; then
    echo "$warnings"
    exit 1
fi
text=$(groff -man -Tascii -P-cbou "$page" 2>/dev/null)
for v in "$@"; do
    case $text in
    *"$v"*) ;;
    *) echo "escalated.8 lacks $v"; exit 1 ;;
    esac
done
