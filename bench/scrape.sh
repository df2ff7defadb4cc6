#!/usr/bin/env bash
# Does scraping /metrics slow client requests?
#
# Starts one `shoal` node on free loopback ports (metrics on), loads
# KEYS keys, then alternates ROUNDS times: redis-benchmark GET alone (A),
# and the same while `curl --parallel` makes 1000 concurrent /metrics
# scrapes every second (B). Prints each run (requests/s, p50 and p99 in ms,
# node CPU seconds, scrapes answered 200 and others) and the B/A ratios.
#
# Builds nothing: run `cargo build --release` first. Uses
# target/release/shoal (or $SHOAL_BIN); needs redis-cli, redis-benchmark,
# curl (7.66 or later) and python3.
#
# usage: bench/scrape.sh [--rounds N] [--requests N] [--clients N] [--pipeline N]
# The node it starts is stopped on exit, by PID.

set -euo pipefail

ROUNDS=3
REQUESTS=300000
CLIENTS=50
PIPELINE=1
KEYS=100000
SHOAL_BIN=${SHOAL_BIN:-target/release/shoal}

while [ $# -gt 0 ]; do
    case $1 in
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        --requests) REQUESTS=${2:?}; shift 2 ;;
        --clients) CLIENTS=${2:?}; shift 2 ;;
        --pipeline) PIPELINE=${2:?}; shift 2 ;;
        *) sed -n '2,/^# The node/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port); PEER=$(free_port); METRICS=$(free_port)
"$SHOAL_BIN" --port "$PORT" --peer-port "$PEER" --metrics-port "$METRICS" --log-level warn &
PID=$!
work=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1000); do
    echo "url = \"http://127.0.0.1:$METRICS/metrics\""
    echo 'output = "/dev/null"'
done > "$work/urls"

# 1000 concurrent scrapes, every second, until killed; one status per line.
scrape_bursts() {
    while :; do
        curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 1000 -K "$work/urls" -w '%{http_code}\n' >> "$work/codes" 2>/dev/null || true
        sleep 1
    done
}
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-benchmark -p "$PORT" -t set -n "$KEYS" -r "$KEYS" -d 64 -q >/dev/null

cpu_s() { awk '{print ($14 + $15) / 100}' "/proc/$PID/stat"; }

# One GET run; prints "rps p50 p99 cpu_seconds".
run() {
    local before after csv
    before=$(cpu_s)
    csv=$(redis-benchmark -p "$PORT" -t get -n "$REQUESTS" -c "$CLIENTS" -P "$PIPELINE" -r "$KEYS" -d 64 --csv | tail -1)
    after=$(cpu_s)
    # "GET","rps","avg","min","p50","p95","p99","max"
    echo "$csv" | tr -d '"' | awk -F, -v a="$after" -v b="$before" '{print $2, $5, $7, a - b}'
}

printf '%-6s %-8s %10s %8s %8s %8s  %s\n' round scraping rps p50_ms p99_ms cpu_s scrapes
declare -a A_RPS B_RPS A_P99 B_P99
for round in $(seq "$ROUNDS"); do
    read -r rps p50 p99 cpu < <(run)
    A_RPS+=("$rps"); A_P99+=("$p99")
    printf '%-6s %-8s %10s %8s %8s %8s\n' "$round" off "$rps" "$p50" "$p99" "$cpu"
    : > "$work/codes"
    scrape_bursts &
    LOAD=$!
    read -r rps p50 p99 cpu < <(run)
    kill "$LOAD" 2>/dev/null || true
    wait "$LOAD" 2>/dev/null || true
    B_RPS+=("$rps"); B_P99+=("$p99")
    ok=$(grep -c '^200$' "$work/codes" || true)
    other=$(grep -vc '^200$' "$work/codes" || true)
    printf '%-6s %-8s %10s %8s %8s %8s  scrapes=%s other=%s\n' "$round" "1000/s" "$rps" "$p50" "$p99" "$cpu" "$ok" "$other"
done
python3 - "${A_RPS[*]}" "${B_RPS[*]}" "${A_P99[*]}" "${B_P99[*]}" <<'PY'
import statistics, sys
a, b, ap, bp = ([float(x) for x in arg.split()] for arg in sys.argv[1:])
print(f"median rps with scrapes / without: {statistics.median(b) / statistics.median(a):.3f}")
print(f"median p99 with scrapes / without: {statistics.median(bp) / statistics.median(ap):.3f}")
PY
