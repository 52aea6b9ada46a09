#!/usr/bin/env bash
# GrowFit's own web front end (bctone1/GF_Frontend), unchanged, against classhub, in headless
# Chromium: builds the front end outside this repository with REACT_APP_API_URL pointing at a
# classhub this script starts, serves it from another origin, and runs scripts/growfit/drive.mjs
# (sign-in, class form create/edit/list/delete, sign-up with the emailed code, redeem through the
# six boxes, the student's list, leaving). Screenshots of each step: $GROWFIT_SCREENSHOTS
# (default target/growfit-e2e/screenshots).
#
# Needs: Node.js >= 20 with npm, Debian's chromium, and the front end's source: a git directory
# of bctone1/GF_Frontend in $GROWFIT_FRONTEND_GIT_DIR (default: the local snapshot under
# /work/.mirror). Its code is never copied into this repository.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${GROWFIT_CACHE:-$PWD/target/growfit-e2e}"
shots="${GROWFIT_SCREENSHOTS:-$cache/screenshots}"
git_dir="${GROWFIT_FRONTEND_GIT_DIR:-}"
if [ -z "$git_dir" ]; then
  for d in /work/.mirror/bctone1+GF_Frontend/repo /work/.mirror/bctone1+GF_Frontend; do
    if git --git-dir="$d" rev-parse HEAD >/dev/null 2>&1; then git_dir="$d"; break; fi
  done
fi
if [ -z "$git_dir" ]; then
  echo "GF_Frontend's source is missing: set GROWFIT_FRONTEND_GIT_DIR to a git directory of" >&2
  echo "https://github.com/bctone1/GF_Frontend (a clone's .git, or a bare mirror)" >&2
  exit 1
fi
command -v chromium >/dev/null || { echo "chromium is missing (apt-get install chromium)" >&2; exit 1; }
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
  || { echo "Node.js 20 or later is needed (GF_Frontend's react-router 7)" >&2; exit 1; }

# Fixed ports: the API's address is compiled into the front end, which is built once per commit.
api_port=38917
front_port=38918
api="http://127.0.0.1:$api_port"
front="http://127.0.0.1:$front_port"
commit="$(git --git-dir="$git_dir" rev-parse HEAD)"
src="$cache/frontend-$commit"
mkdir -p "$cache"

if [ ! -f "$src/build/.built-for" ] || [ "$(cat "$src/build/.built-for")" != "$api" ]; then
  echo "== building GF_Frontend $commit against $api"
  rm -rf "$src" && mkdir -p "$src"
  git --git-dir="$git_dir" archive "$commit" | tar -x -C "$src"
  (cd "$src" && npm ci --no-audit --no-fund --loglevel=error)
  # CRA fails on lint warnings when CI is set; the front end has many.
  (cd "$src" && env -u CI REACT_APP_API_URL="$api" npm run build --silent)
  echo "$api" > "$src/build/.built-for"
fi

drivers="$cache/drivers"
if [ ! -d "$drivers/node_modules/puppeteer-core" ] || ! cmp -s scripts/growfit/package.json "$drivers/package.json"; then
  rm -rf "$drivers" && mkdir -p "$drivers"
  cp scripts/growfit/package.json "$drivers/"
  (cd "$drivers" && npm install --no-audit --no-fund --no-package-lock --loglevel=error)
fi
cp scripts/growfit/drive.mjs scripts/growfit/serve.mjs "$drivers/"

cargo build --quiet -p classhub
work="$(mktemp -d)"
database_url="sqlite://$work/classhub.db"
# GROWFIT_POSTGRES_URL (a PostgreSQL server URL, e.g. postgres://postgres@127.0.0.1:5432/postgres):
# run on a fresh database there instead of SQLite, dropped afterwards.
if [ -n "${GROWFIT_POSTGRES_URL:-}" ]; then
  db="growfit_e2e_$$"
  psql "$GROWFIT_POSTGRES_URL" -qtAc "CREATE DATABASE $db" >/dev/null
  database_url="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$GROWFIT_POSTGRES_URL" "$db")"
fi
cleanup() {
  kill "${classhub_pid:-}" "${front_pid:-}" 2>/dev/null || true
  wait "${classhub_pid:-}" 2>/dev/null || true
  if [ -n "${db:-}" ]; then psql "$GROWFIT_POSTGRES_URL" -qtAc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
admin_token="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
target/debug/classhub --database-url "$database_url" --log warn \
  --secret-key-file "$work/classhub.key" serve --listen "127.0.0.1:$api_port" --admin-token "$admin_token" \
  --cors-origin "$front" --mail-dir "$work/mail" &
classhub_pid=$!
node "$drivers/serve.mjs" "$src/build" "$front_port" &
front_pid=$!
for _ in $(seq 1 100); do curl -sf "$api/readyz" >/dev/null && curl -sf "$front/" >/dev/null && break; sleep 0.1; done

rm -rf "$shots"
API="$api" FRONT="$front" ADMIN="$admin_token" MAIL_DIR="$work/mail" SCREENSHOTS="$shots" \
  CHROMIUM="$(command -v chromium)" node "$drivers/drive.mjs"
echo "screenshots: $shots"
