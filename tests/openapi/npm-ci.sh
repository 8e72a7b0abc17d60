#!/usr/bin/env bash
# npm-ci.sh DIR — install the pinned packages of tests/openapi/package-lock.json
# into DIR/node_modules with `npm ci`, unless DIR already holds exactly that
# lock (a stamp of its SHA-256): the registry is asked only when the lock
# changes or DIR is new.  The ctest fixture openapi.npm_ci runs it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$1
mkdir -p "$DIR"
want=$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)
if [[ -f "$DIR/node_modules/.escalated-lock-sha256" &&
      $(cat "$DIR/node_modules/.escalated-lock-sha256") == "$want" ]]; then
    echo "npm-ci.sh: $DIR/node_modules is current"
    exit 0
fi
cp "$HERE/package.json" "$HERE/package-lock.json" "$DIR/"
cd "$DIR"
# Three tries: a registry that drops one connection should not fail the suite.
for try in 1 2 3; do
    npm ci --no-audit --no-fund --ignore-scripts && break
    [[ $try -eq 3 ]] && exit 1
    echo "npm-ci.sh: npm ci failed (try $try of 3), again in $((try * 10)) s" >&2
    sleep $((try * 10))
done
echo "$want" > node_modules/.escalated-lock-sha256
