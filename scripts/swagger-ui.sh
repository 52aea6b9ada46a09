#!/usr/bin/env bash
# /docs as a FastAPI user uses it: headless Chromium (Debian's `chromium`) opens Swagger UI,
# authorizes, and runs "Try it out" on every partner, admin, account and OCARIoT operation
# (scripts/swagger-ui/try-it-out.mjs). Needs Node.js >= 20 with npm and chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/classhub-url.sh

command -v chromium >/dev/null || { echo "chromium is missing (apt-get install chromium)" >&2; exit 1; }
# puppeteer-core, as the GrowFit test pins it, installed once under target/.
drivers=target/swagger-ui/drivers
if [ ! -d "$drivers/node_modules/puppeteer-core" ] || ! cmp -s scripts/growfit/package.json "$drivers/package.json"; then
  rm -rf "$drivers" && mkdir -p "$drivers"
  cp scripts/growfit/package.json "$drivers/"
  (cd "$drivers" && npm install --no-audit --no-fund --no-package-lock --loglevel=error)
fi
cp scripts/swagger-ui/try-it-out.mjs "$drivers/"

cargo build --quiet --locked -p classhub
work="$(mktemp -d)"
cleanup() {
  kill "${classhub_pid:-}" 2>/dev/null || true
  wait "${classhub_pid:-}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
admin_token="docs-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
oc_password="oc-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
CLASSHUB_OCARIOT_ADMIN_PASSWORD="$oc_password" target/debug/classhub --database-url "sqlite://$work/classhub.db" \
  --log warn,classhub=info serve --listen 127.0.0.1:0 --admin-token "$admin_token" --mail-dir "$work/mail" \
  --log-format json 2>"$work/stderr" &
classhub_pid=$!
api=$(classhub_url "$work/stderr" "$classhub_pid")
shots=target/swagger-ui/screenshots
rm -rf "$shots" && mkdir -p "$shots"
API="$api" ADMIN="$admin_token" OCARIOT_ADMIN_PASSWORD="$oc_password" CHROMIUM="$(command -v chromium)" \
  SCREENSHOTS="$shots" node "$drivers/try-it-out.mjs"
