//! The load generators: `wrk` for closed-loop throughput (a Lua script replays a file of
//! prepared requests, so every request can carry its own path, token, body or signature) and
//! `oha` at a fixed rate for latency.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One prepared request; `auth` is the whole `Authorization` value.
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub auth: String,
    pub body: String,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Order {
    /// Each request once, in turn (signed requests must not repeat).
    InTurn,
    Random,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub requests: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Socket errors, timeouts and answers of 400 or more.
    pub errors: u64,
}

const SCRIPT: &str = r#"
-- args: request file, "random" or "turn". Lines: method TAB path TAB authorization TAB body.
local requests, n, order = {}, 0, "random"
function init(args)
  order = args[2]
  for line in io.lines(args[1]) do
    local method, path, auth, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = { ["Authorization"] = auth }
    if body == "" then body = nil else headers["Content-Type"] = "application/json" end
    requests[#requests + 1] = wrk.format(method, path, headers, body)
  end
  math.randomseed(os.time())
end
function request()
  if order == "random" then return requests[math.random(#requests)] end
  n = n % #requests + 1
  return requests[n]
end
function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#;

/// Closed loop: `connections` connections on one wrk thread, as fast as the server answers.
pub fn wrk(
    addr: SocketAddr,
    requests: &[Request],
    order: Order,
    connections: usize,
    duration: Duration,
    dir: &Path,
) -> Result<Outcome, String> {
    let script = dir.join("replay.lua");
    let file = dir.join("requests.tsv");
    std::fs::write(&script, SCRIPT).map_err(|e| e.to_string())?;
    let mut text = String::new();
    for r in requests {
        let _ = writeln!(text, "{}\t{}\t{}\t{}", r.method, r.path, r.auth, r.body);
    }
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
    let out = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{}s", duration.as_secs()), "--timeout", "5s", "-s"])
        .arg(&script)
        .arg(format!("http://{addr}"))
        .arg("--")
        .arg(&file)
        .arg(if order == Order::Random { "random" } else { "turn" })
        .output()
        .map_err(|e| format!("running wrk (apt-get install wrk): {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("wrk printed no result:\n{stdout}{}", String::from_utf8_lossy(&out.stderr)))?;
    parse_wrk(line)
}

fn parse_wrk(line: &str) -> Result<Outcome, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("wrk result {line}: {e}"))?;
    let num = |k: &str| v[k].as_f64().ok_or_else(|| format!("wrk result lacks {k}: {line}"));
    let requests = num("requests")?;
    Ok(Outcome {
        requests: requests as u64,
        per_second: requests / (num("duration_us")? / 1e6),
        p50_ms: num("p50_us")? / 1e3,
        p99_ms: num("p99_us")? / 1e3,
        errors: num("errors")? as u64,
    })
}

/// What `oha` needs for a fixed-rate run: one method, token and body, paths drawn from a
/// regular expression.
pub struct FixedRate<'a> {
    pub method: &'a str,
    pub path_regex: String,
    pub auth: &'a str,
    pub body: Option<&'a str>,
}

/// Open loop at `rate` requests per second; latency is measured from when each request was
/// due (`--latency-correction`), so a stalled server cannot hide its queue.
pub fn oha(
    addr: SocketAddr,
    run: &FixedRate,
    rate: f64,
    connections: usize,
    duration: Duration,
) -> Result<Outcome, String> {
    let mut cmd = Command::new("oha");
    cmd.args(["--no-tui", "--output-format", "json", "--latency-correction"]);
    cmd.args(["-z", &format!("{}s", duration.as_secs()), "-c", &connections.to_string()]);
    cmd.args(["-q", &format!("{}", rate.max(1.0).round()), "-m", run.method, "-H"]);
    cmd.arg(format!("Authorization: {}", run.auth));
    if let Some(body) = run.body {
        cmd.args(["-H", "Content-Type: application/json", "-d", body]);
    }
    // oha's URL generator reads `\.` as any character; a class `[.]` is a literal dot.
    cmd.arg("--rand-regex-url").arg(format!(r"http://{}{}", addr.to_string().replace('.', "[.]"), run.path_regex));
    let out = cmd.output().map_err(|e| format!("running oha (cargo install oha): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("oha output ({e}):\n{text}{}", String::from_utf8_lossy(&out.stderr)))?;
    parse_oha(&v)
}

fn parse_oha(v: &serde_json::Value) -> Result<Outcome, String> {
    let secs = |k: &str| v["latencyPercentiles"][k].as_f64().map(|s| s * 1e3).ok_or(format!("oha output lacks {k}"));
    let mut requests = 0;
    let mut errors = 0;
    if let Some(codes) = v["statusCodeDistribution"].as_object() {
        for (code, n) in codes {
            let n = n.as_u64().unwrap_or(0);
            requests += n;
            if code.parse::<u16>().map_or(true, |c| c >= 400) {
                errors += n;
            }
        }
    }
    if let Some(failures) = v["errorDistribution"].as_object() {
        // Requests still queued when the run's time is up are not the server's errors.
        let real = failures.iter().filter(|(what, _)| !what.contains("deadline"));
        errors += real.filter_map(|(_, n)| n.as_u64()).sum::<u64>();
    }
    Ok(Outcome {
        requests,
        per_second: v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: secs("p50")?,
        p99_ms: secs("p99")?,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_result_line_is_read() {
        let o =
            parse_wrk(r#"{"requests":50000,"duration_us":10000000,"errors":3,"p50_us":250,"p99_us":1200}"#).unwrap();
        assert_eq!((o.requests, o.errors), (50000, 3));
        assert_eq!((o.per_second, o.p50_ms, o.p99_ms), (5000.0, 0.25, 1.2));
        assert!(parse_wrk(r#"{"requests":1}"#).is_err());
    }

    #[test]
    fn oha_counts_4xx_5xx_and_socket_errors() {
        let v = serde_json::json!({
            "summary": {"requestsPerSec": 999.5},
            "latencyPercentiles": {"p50": 0.0005, "p99": 0.004},
            "statusCodeDistribution": {"200": 900, "409": 5, "503": 1},
            "errorDistribution": {"connection reset": 2, "aborted due to deadline": 40}

        });
        let o = parse_oha(&v).unwrap();
        assert_eq!((o.requests, o.errors, o.per_second), (906, 8, 999.5));
        assert_eq!((o.p50_ms, o.p99_ms), (0.5, 4.0));
    }
}
