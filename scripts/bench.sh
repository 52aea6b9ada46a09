#!/usr/bin/env bash
# The benchmark of BENCHMARKS.md: builds classhub and the benchmark driver in release mode,
# then seeds, serves and measures each engine against the bare axum ceiling.
#   scripts/bench.sh                         # both engines, 10 s per run
#   scripts/bench.sh --engines sqlite --duration 5
#   scripts/bench.sh --growth 1000000,10000000   # GET, PATCH, history again after growing the
#                                                # database by 1M classes and 10M audit events
# Needs wrk (apt-get install wrk) and oha (cargo install oha), and for PostgreSQL a server
# on 127.0.0.1:5432 with trust auth (the database classhub_bench is dropped and re-created).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
command -v oha >/dev/null || { echo "oha is missing: cargo install oha" >&2; exit 1; }
cargo build --release --locked -p classhub -p classhub-bench
# The redeem storm holds 2,000 connections open at once on each side.
ulimit -n 16384
exec target/release/classhub-bench run "$@"
