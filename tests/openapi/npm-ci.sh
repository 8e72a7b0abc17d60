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
npm ci --no-audit --no-fund --ignore-scripts
echo "$want" > node_modules/.escalated-lock-sha256
