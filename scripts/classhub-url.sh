# Sourced by the scripts that start a debug classhub on port 0: `classhub_url STDERR PID`
# prints the URL it listens on, read from its "listening" log line (`--log-format json`, at
# least `classhub=info`), once it has written it; fails, showing the log, if the process
# ends first or nothing comes within 30 s.
classhub_url() {
  local log=$1 pid=$2 url=
  for _ in $(seq 1 300); do
    url=$(sed -nE 's/.*classhub listening on (https?:[^"]+)".*/\1/p' "$log" | head -n 1)
    [ -n "$url" ] && { echo "$url"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "classhub did not start" >&2
  cat "$log" >&2
  return 1
}
