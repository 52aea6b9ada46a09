#!/usr/bin/env bash
# Release check: a real PostgreSQL outage. Starts classhub on a database of its own, keeps
# clients busy, STOPS THE MACHINE'S POSTGRESQL (pg_ctlcluster), checks that every dialect
# answers 503 in its own envelope within the request timeout and that no request hangs,
# starts PostgreSQL again and checks that classhub recovers without a restart.
#
# It stops the shared server: not for CI, nor while other tests use PostgreSQL. PostgreSQL
# is started again on every exit, failures included.
#
# Environment: PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres), a
# database where the script may create and drop its own.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_VERSION=$(ls /etc/postgresql | head -n 1)
DB="classhub_outage_$$"
DB_URL="${PG_ADMIN_URL%/*}/$DB"
REQUEST_TIMEOUT=5
# A request may take the request timeout plus this much (scheduling, a debug build).
SLACK=2

fail() { echo "FAIL: $*" >&2; exit 1; }
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
start_pg() {
  pg_up && return 0
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start || true
  for _ in $(seq 1 60); do pg_up && return 0; sleep 0.5; done
  return 1
}

cargo build --locked -p classhub
BIN=target/debug/classhub

WORK=$(mktemp -d)
SERVER_PID=
LOAD_PID=
cleanup() {
  status=$?
  set +e
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null && wait "$LOAD_PID" 2>/dev/null
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  start_pg || echo "WARNING: PostgreSQL did not come back; start it by hand" >&2
  psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT INT TERM

pg_up || fail "PostgreSQL is not running"
psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null

"$BIN" --database-url "$DB_URL" --secret-key-file "$WORK/key" --log-format json --log warn,classhub=info \
  serve --listen 127.0.0.1:0 --admin-token adm --ocariot-admin-password pw --request-timeout "$REQUEST_TIMEOUT" \
  --mail-dir "$WORK/mail" --pg-pool-size 4 >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!
URL=
for _ in $(seq 1 300); do
  URL=$(sed -nE 's/.*classhub listening on (http:[^"]+)".*/\1/p' "$WORK/stderr" | head -n 1)
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/stderr" >&2; fail "classhub did not start"; }
  sleep 0.1
done
[ -n "$URL" ] || fail "classhub did not start"
echo "classhub $SERVER_PID on $URL, database $DB"

# request METHOD PATH [AUTHORIZATION] [BODY]: prints "status seconds body".
request() {
  local out args=(-s -o "$WORK/body" -w '%{http_code} %{time_total}' --max-time 60 -X "$1" "$URL$2")
  [ -n "${3:-}" ] && args+=(-H "Authorization: $3")
  [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data "$4")
  rm -f "$WORK/body"
  out=$(curl "${args[@]}") || out="000 60"
  echo "$out $(cat "$WORK/body" 2>/dev/null)"
}

PARTNER=$(request POST /admin/v1/partners "Bearer adm" '{"name": "Ops", "email": "ops@example.com"}')
TOKEN=$(sed -E 's/.*"token":"([^"]+)".*/\1/' <<<"$PARTNER")
CLASS=$(request POST /partner/1/classes "Bearer $TOKEN" '{"name": "Outage", "capacity": 10}')
[[ $CLASS == 201* ]] || fail "creating a class: $CLASS"
OC=$(request POST /v1/auth "" '{"username": "admin", "password": "pw"}')
OC_TOKEN=$(sed -E 's/.*"access_token":"([^"]+)".*/\1/' <<<"$OC")

# Clients reading and writing all along; each line: status and seconds.
(
  n=0
  while true; do
    n=$((n + 1))
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 60 "$URL/partner/1/classes/1" \
      -H "Authorization: Bearer $TOKEN" || echo "000 60"
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 60 -X PATCH "$URL/partner/1/classes/1" \
      -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d "{\"description\": \"load $n\"}" || echo "000 60"
  done >>"$WORK/load" # appending: the file is emptied below while this writes
) &
LOAD_PID=$!
sleep 2
grep -qv '^200 ' "$WORK/load" && fail "errors before the outage: $(sort "$WORK/load" | uniq -c | head)"
echo "before the outage: $(wc -l <"$WORK/load") requests, all 200"
: >"$WORK/load"

echo "stopping PostgreSQL"
pg_ctlcluster --skip-systemctl-redirect -m fast "$PG_VERSION" main stop
pg_up && fail "PostgreSQL is still up"
sleep 1

# Each dialect answers 503 in its envelope, within the request timeout.
check_503() {
  local what=$1 expect=$2 reply status secs body
  reply=$(request "${@:3}")
  read -r status secs body <<<"$reply"
  [ "$status" = 503 ] || fail "$what: expected 503, got $reply"
  awk -v s="$secs" -v m=$((REQUEST_TIMEOUT + SLACK)) 'BEGIN { exit !(s < m) }' || fail "$what took ${secs}s"
  grep -qE "$expect" <<<"$body" || fail "$what: not in the dialect's envelope: $body"
  echo "  $what: 503 in ${secs}s: $body"
}
check_503 "partner GET" '^\{"detail":"[^"]+"\}$' GET /partner/1/classes/1 "Bearer $TOKEN"
check_503 "partner PATCH" '^\{"detail":"[^"]+"\}$' PATCH /partner/1/classes/1 "Bearer $TOKEN" '{"name": "x"}'
check_503 "admin POST" '^\{"detail":"[^"]+"\}$' POST /admin/v1/students "Bearer adm" '{"name": "S", "email": "s@example.com"}'
check_503 "OCARIoT sign-in" '"code":503' POST /v1/auth "" '{"username": "admin", "password": "pw"}'
check_503 "OCARIoT groups" '"code":503' GET /v1/healthprofessionals/000000000000000000000001/children/groups "Bearer $OC_TOKEN"
check_503 "CloudShare" '"code":"0x503"' GET /api/v3/class \
  "cs_sha1 userapiid:X;timestamp:$(date +%s);token:abc;hmac:0000000000000000000000000000000000000000"
check_503 "readiness" '"status":"unavailable"' GET /readyz
grep -qi '^retry-after:' < <(curl -si "$URL/partner/1/classes/1" -H "Authorization: Bearer $TOKEN") \
  || fail "no Retry-After on the 503"
sleep 3

start_pg || fail "PostgreSQL did not start"
for i in $(seq 1 60); do
  [[ $(request GET /readyz) == 200* ]] && break
  [ "$i" = 60 ] && fail "classhub not ready 30 s after PostgreSQL came back"
  sleep 0.5
done
kill -0 "$SERVER_PID" || fail "classhub exited"
for _ in $(seq 1 20); do
  tail -n 1 "$WORK/load" | grep -q '^200 ' && break
  sleep 0.5
done
sleep 2
kill "$LOAD_PID" && wait "$LOAD_PID" 2>/dev/null || true
LOAD_PID=

echo "load during the outage and after (status: count):"
awk '{ print "  " $1 }' "$WORK/load" | sort | uniq -c
bad=$(awk '$1 != 200 && $1 != 503 { print }' "$WORK/load" | head -n 5)
[ -z "$bad" ] || fail "answers other than 200 and 503: $bad"
slowest=$(sort -k2 -g "$WORK/load" | tail -n 1 | awk '{ print $2 }')
awk -v s="$slowest" -v m=$((REQUEST_TIMEOUT + SLACK)) 'BEGIN { exit !(s < m) }' || fail "a request took ${slowest}s"
echo "  slowest request: ${slowest}s (limit ${REQUEST_TIMEOUT}s + ${SLACK}s)"
tail -n 4 "$WORK/load" | grep -qv '^200 ' && fail "not recovered: $(tail -n 4 "$WORK/load")"

for reply in "$(request GET /partner/1/classes/1 "Bearer $TOKEN")" \
  "$(request PATCH /partner/1/classes/1 "Bearer $TOKEN" '{"name": "After the outage"}')" \
  "$(request POST /v1/auth "" '{"username": "admin", "password": "pw"}')"; do
  [[ $reply == 200* ]] || fail "after recovery: $reply"
done
echo "recovered without a restart (pid $SERVER_PID): reads, writes and sign-ins answer 200"
echo "PASS"
