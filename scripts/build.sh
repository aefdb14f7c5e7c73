#!/usr/bin/env bash
# Compiles Forge's TypeScript to JavaScript in dist/ (mirroring the source tree),
# which bin/forge runs: starting from compiled JS takes tens of milliseconds where
# tsx's compile-at-start takes about a second. Types are checked by `npm run
# typecheck`, not here (--noCheck keeps the build a few seconds). dist/ is
# gitignored; bin/forge falls back to tsx when it is missing or older than a source.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="dist.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
node_modules/.bin/tsc -p tsconfig.build.json --noCheck --outDir "$tmp"
# Files the code finds beside itself by relative URL (schemas, the dashboard, the version).
# schemas/ also holds TypeScript (the agent protocol's types), so tsc made dist's schemas/ a
# real directory: the JSON schemas are linked into it one by one.
mkdir -p "$tmp/schemas"
for schema in schemas/*.json; do ln -s "../../$schema" "$tmp/$schema"; done
ln -s ../web "$tmp/web"
ln -s ../package.json "$tmp/package.json"
# The stamp bin/forge compares source mtimes against: written last, so a build cut short is missing, not "fresh".
date -u +%Y-%m-%dT%H:%M:%SZ > "$tmp/.build-stamp"
rm -rf dist
mv "$tmp" dist
trap - EXIT
echo "build: compiled to dist/ ($(find dist -name '*.js' | wc -l) files)"
