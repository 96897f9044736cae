#!/bin/sh
# Lays out a runnable collector in DEST from a built repository (SRC, default: this repository):
#   DEST/dist/{server,agent,console}   the compiled collector (it imports shared agent rules) and the console
#   DEST/proto                          the contract the gRPC server loads at start
#   DEST/node_modules                   the production dependency closure only, as `npm ls --omit=dev` lists it
#   DEST/package.json, healthcheck.mjs
# The container image runs this after `npm run build` and `npm prune --omit=dev`; the tests run it
# on an existing build to check the same layout starts. Needs npm (it reads the installed tree).
set -eu

usage() { echo "usage: assemble.sh DEST [SRC]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
DEST=$1
SRC=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
SRC=$(cd "$SRC" && pwd)

for required in dist/server/src/main.js dist/agent/src dist/console/index.html proto/mamori/v1 node_modules package.json; do
  if [ ! -e "$SRC/$required" ]; then
    echo "assemble.sh: $SRC/$required is missing (run npm ci and npm run build first)" >&2
    exit 1
  fi
done

mkdir -p "$DEST/dist" "$DEST/node_modules"
# -L: copies, never links, even where the build tree links to another (the layout must stand
# alone, and nothing done to it below may reach back into the source).
cp -RL "$SRC/dist/server" "$SRC/dist/agent" "$SRC/dist/console" "$DEST/dist/"
mkdir -p "$DEST/proto"
cp -RL "$SRC/proto/mamori" "$DEST/proto/"
cp "$SRC/package.json" "$DEST/package.json"
cp "$SRC/deploy/collector/healthcheck.mjs" "$DEST/healthcheck.mjs"

# Every installed package the production dependencies need, outermost first, so a nested
# node_modules is copied once with its parent. npm ls exits non-zero on mere warnings
# (an engine mismatch of some package): the list itself is what counts, and it must not be empty.
list=$(cd "$SRC" && npm ls --omit=dev --all --parseable 2>/dev/null || true)
count=0
for path in $(printf '%s\n' "$list" | sort -u); do
  case "$path" in
    "$SRC"/node_modules/*) relative=${path#"$SRC"/} ;;
    *) continue ;;
  esac
  [ -e "$DEST/$relative" ] && continue
  mkdir -p "$DEST/$(dirname "$relative")"
  cp -R "$path" "$DEST/$relative"
  count=$((count + 1))
done
if [ "$count" -eq 0 ]; then
  echo "assemble.sh: npm ls --omit=dev listed no installed production package under $SRC/node_modules" >&2
  exit 1
fi
# better-sqlite3 built from source leaves its SQLite sources and object files beside the addon
# (~30 MB); only the addon is loaded.
addon="$DEST/node_modules/better-sqlite3"
if [ -f "$addon/build/Release/better_sqlite3.node" ]; then
  mv "$addon/build/Release/better_sqlite3.node" "$addon/better_sqlite3.node.keep"
  rm -rf "$addon/build" "$addon/deps" "$addon/src"
  mkdir -p "$addon/build/Release"
  mv "$addon/better_sqlite3.node.keep" "$addon/build/Release/better_sqlite3.node"
fi
# Source maps are for debugging a build, not for running it.
find "$DEST/dist" -name '*.map' -type f -delete
echo "assemble.sh: $DEST holds the collector and $count production packages"
