#!/usr/bin/env bash
# Generated-client check (Python): generates a client from the debug classhub's served
# /openapi.json with openapi-python-client, installs it into a virtualenv and drives a live
# server with it (scripts/client-python/drive.py): partner and student made through the admin
# API, then as the partner create, read, patch with If-Match, list, invite code, redeem (as the
# student), roster and history, plus the documented error bodies (422 detail list, 404, 412).
# The generated code lives in a temporary directory and is never committed.
#
# Environment: CLIENT_PYTHON_KEEP=1 keeps the temporary directory (generated client, logs).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/classhub-url.sh

VERSION=0.29.1
# Keep bytecode out of the source tree (drive.py is run from scripts/).
export PYTHONDONTWRITEBYTECODE=1
VENV=target/client-python-venv
ROOT=$PWD

cargo build --locked -p classhub
BIN=target/debug/classhub

# The virtualenv is kept between runs; remade when the pinned version changes.
if [ "$("$VENV/bin/openapi-python-client" --version 2>/dev/null)" != "openapi-python-client version: $VERSION" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "openapi-python-client==$VERSION"
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "${CLIENT_PYTHON_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

ADMIN_TOKEN="adm-$RANDOM$RANDOM$RANDOM"
"$BIN" --database-url "sqlite://$WORK/classhub.db" --secret-key-file "$WORK/classhub.key" \
  --log warn,classhub=info --log-format json serve --listen 127.0.0.1:0 \
  --mail-dir "$WORK/mail" --admin-token "$ADMIN_TOKEN" \
  >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!

URL=$(classhub_url "$WORK/stderr" "$SERVER_PID")
ready=
for _ in $(seq 1 100); do
  if curl -fsS "$URL/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || { echo "classhub is not ready: $URL/readyz" >&2; cat "$WORK/stderr" >&2; exit 1; }

curl -fsS "$URL/openapi.json" -o "$WORK/openapi.json"
echo "openapi-python-client $VERSION: $URL/openapi.json"
# --meta setup: a package installable with pip (module classhub_client, named after the
# document's title), generated outside the repository; no post hooks (they run ruff).
printf 'post_hooks: []\n' >"$WORK/generator.yaml"
(cd "$WORK" && "$ROOT/$VENV/bin/openapi-python-client" generate --path openapi.json \
  --config generator.yaml --meta setup --output-path client --overwrite) >"$WORK/generate.log" 2>&1 ||
  { cat "$WORK/generate.log" >&2; exit 1; }
# A warning means an operation or a schema was left out of the client: fail on it.
if grep -qiE 'warning|error|could not|skipp' "$WORK/generate.log"; then
  echo "openapi-python-client reported problems:" >&2
  cat "$WORK/generate.log" >&2
  exit 1
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "$WORK/client"

status=0
CLASSHUB_URL="$URL" CLASSHUB_ADMIN_TOKEN="$ADMIN_TOKEN" "$VENV/bin/python" scripts/client-python/drive.py || status=$?

if grep -q '"level":"ERROR"' "$WORK/stderr"; then
  echo "classhub logged errors:" >&2
  grep '"level":"ERROR"' "$WORK/stderr" | head -n 20 >&2
  status=1
fi
exit "$status"
