#!/usr/bin/env bash
# A TypeScript client generated from the served /openapi.json, driven against a live classhub:
# openapi-typescript turns the document into `schema.d.ts`, tsc (strict) type-checks
# scripts/client-typescript/drive.ts against it, and node runs it: through openapi-fetch's
# `createClient<paths>()` only, the admin API makes a partner and a student; the partner
# creates, reads (ETag), patches (If-Match; a stale one is 412) and lists a class, lists and
# creates an invite code; the student redeems it; the partner reads the roster and the
# history; a 422 ({detail: [...]}) and a 404 ({detail}). Every response body is also checked
# against the document's schema for its status. Fails on a type error or any mismatch.
#
# Needs Node.js >= 20 with npm. The pinned packages (scripts/client-typescript/package.json)
# and everything generated live in target/client-typescript (override: CLIENT_TS_CACHE);
# nothing generated is written to the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/classhub-url.sh

cache="${CLIENT_TS_CACHE:-$PWD/target/client-typescript}"
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
  || { echo "Node.js 20 or later is needed" >&2; exit 1; }

# The packages are kept between runs; installed again when the pinned versions change.
mkdir -p "$cache"
if [ ! -x "$cache/node_modules/.bin/tsc" ] || ! cmp -s scripts/client-typescript/package.json "$cache/package.json"; then
  rm -rf "$cache/node_modules" "$cache/package.json"
  cp scripts/client-typescript/package.json "$cache/"
  (cd "$cache" && npm install --no-audit --no-fund --no-package-lock --loglevel=error)
fi
rm -rf "$cache/out" "$cache/schema.d.ts" "$cache/openapi.json"
cp scripts/client-typescript/drive.ts scripts/client-typescript/tsconfig.json "$cache/"

cargo build --locked --quiet -p classhub
BIN=target/debug/classhub

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

ADMIN_TOKEN="ts-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$BIN" --database-url "sqlite://$WORK/classhub.db" --log warn,classhub=info --log-format json \
  --secret-key-file "$WORK/classhub.key" serve --listen 127.0.0.1:0 --admin-token "$ADMIN_TOKEN" \
  --mail-dir "$WORK/mail" >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!

URL=$(classhub_url "$WORK/stderr" "$SERVER_PID")
for _ in $(seq 1 100); do curl -fsS "$URL/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$URL/readyz" >/dev/null

echo "openapi-typescript: $URL/openapi.json"
curl -fsS "$URL/openapi.json" -o "$cache/openapi.json"
"$cache/node_modules/.bin/openapi-typescript" "$cache/openapi.json" -o "$cache/schema.d.ts"
# One tsc run type-checks (strict) and, only when that passes (noEmitOnError), compiles.
echo "tsc (strict): drive.ts against schema.d.ts"
"$cache/node_modules/.bin/tsc" -p "$cache/tsconfig.json"
status=0
CLASSHUB_URL="$URL" ADMIN_TOKEN="$ADMIN_TOKEN" OPENAPI="$cache/openapi.json" node "$cache/out/drive.js" || status=$?

if grep -q '"level":"ERROR"' "$WORK/stderr"; then
  echo "classhub logged errors:" >&2
  grep '"level":"ERROR"' "$WORK/stderr" | head -n 20 >&2
  status=1
fi
exit "$status"
