#!/usr/bin/env bash
# Schema fuzzing: runs schemathesis against the debug classhub's /openapi.json, every
# operation of every dialect, with valid credentials (scripts/schemathesis_hooks.py seeds a
# database and signs each request). Fails on a 5xx, a response that does not match its
# documented schema, status code or content type.
#
# First, the served /openapi.json must be a valid OpenAPI 3.1 document by
# openapi-spec-validator (what client generators and /docs rely on); the run fails if not.
#
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 25), SCHEMATHESIS_WORKERS (default 2),
# SCHEMATHESIS_SEED (default: random; the run prints the seed it used), and
# SCHEMATHESIS_ARGS (extra arguments, e.g. `--include-path-regex ^/api/v3`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/classhub-url.sh

VERSION=4.32.5
VALIDATOR_VERSION=0.9.0
# The hooks module is imported from scripts/: keep its bytecode out of the source tree.
export PYTHONDONTWRITEBYTECODE=1
VENV=target/schemathesis-venv

cargo build --locked -p classhub
BIN=target/debug/classhub

# The virtualenv is kept between runs; remade when the pinned version changes.
if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $VERSION" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi
if [ "$("$VENV/bin/openapi-spec-validator" --version 2>/dev/null)" != "openapi-spec-validator $VALIDATOR_VERSION" ]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$VALIDATOR_VERSION"
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export CLASSHUB_ADMIN_TOKEN="adm-$RANDOM$RANDOM"
export CLASSHUB_OCARIOT_ADMIN_PASSWORD="oc-$RANDOM$RANDOM"
# High failure limits: the fuzzer sends many unauthenticated requests from one address,
# and a tripped limit would answer everything else 429 and hide the handlers.
"$BIN" --database-url "sqlite://$WORK/classhub.db" --log warn,classhub=info serve --listen 127.0.0.1:0 \
  --mail-dir "$WORK/mail" --log-format json --signature-failure-limit 1000000 \
  --login-failure-limit 1000000 --redeem-failure-limit 1000000 \
  --account-login-failure-limit 1000000 --email-code-limit 1000000 \
  >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!

URL=$(classhub_url "$WORK/stderr" "$SERVER_PID")
export CLASSHUB_URL="$URL"

echo "openapi-spec-validator $VALIDATOR_VERSION: $CLASSHUB_URL/openapi.json"
curl -fsS "$CLASSHUB_URL/openapi.json" -o "$WORK/openapi.json"
"$VENV/bin/openapi-spec-validator" --schema 3.1 --validation-errors all "$WORK/openapi.json"

# One worker by default: with two, Hypothesis' cache of lambda descriptions (shared by the
# workers' threads) now and then raises KeyError inside schemathesis's coverage phase, a
# "Runtime Error" of the tool that says nothing about classhub.
seed_args=()
if [ -n "${SCHEMATHESIS_SEED:-}" ]; then seed_args=(--seed "$SCHEMATHESIS_SEED"); fi
status=0
# Run from target/ so that schemathesis keeps its cache of past failures (replayed first
# on the next run) there, not in the source tree.
ROOT=$PWD
mkdir -p target/schemathesis
# shellcheck disable=SC2086 # SCHEMATHESIS_ARGS is a list of arguments
(cd target/schemathesis && PYTHONPATH="$ROOT/scripts" SCHEMATHESIS_HOOKS=schemathesis_hooks \
  "$ROOT/$VENV/bin/schemathesis" --config-file "$ROOT/scripts/schemathesis.toml" run "$CLASSHUB_URL/openapi.json" \
  --url "$CLASSHUB_URL" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,use_after_free,ensure_resource_availability \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --workers "${SCHEMATHESIS_WORKERS:-1}" \
  --phases examples,coverage,fuzzing,stateful \
  --request-timeout 20 \
  --suppress-health-check too_slow,filter_too_much \
  --no-color \
  "${seed_args[@]}" ${SCHEMATHESIS_ARGS:-}) || status=$?

if grep -q '"level":"ERROR"' "$WORK/stderr"; then
  echo "classhub logged errors:" >&2
  grep '"level":"ERROR"' "$WORK/stderr" | head -n 20 >&2
  status=1
fi
exit "$status"
