#!/usr/bin/env bash
# Memory per key: Shoal against redis-server, in the same run.
#
# Starts a fresh `shoal` (release build) and a fresh `redis-server`, each
# on a free loopback port, loads KEYS (1000000) distinct keys of 16 bytes
# (`key:%012d`) with 64-byte values into each through `redis-cli --pipe`,
# and prints the bytes per key each spends, measured two ways: the growth
# of the process's RSS (VmRSS) and the growth of INFO's `used_memory`.
#
# Builds nothing: run `cargo build --release` first. Uses
# target/release/shoal (or $SHOAL_BIN); needs redis-server, redis-cli, ss.
#
# usage: bench/mem_per_key.sh [--keys N]
# Every process it starts is stopped on exit, by PID.

set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

KEYS=1000000
SHOAL_BIN=${SHOAL_BIN:-target/release/shoal}

while [ $# -gt 0 ]; do
    case $1 in
        --keys) KEYS=${2:?}; shift 2 ;;
        -h | --help) sed -n '2,/^# Every process/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

[ -x "$SHOAL_BIN" ] || { echo "$SHOAL_BIN not found: run cargo build --release" >&2; exit 1; }

PIDS=()
WORK=$(mktemp -d)
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

port_in_use() {
    ss -Htuln 2>/dev/null | awk -v port="$1" '{ n = split($5, a, ":"); if (a[n] == port) found = 1 } END { exit !found }'
}

# A free port at or above $1 whose +10000 neighbour is free too (Shoal's peer and gossip port).
free_port() {
    local p=$1
    while port_in_use "$p" || port_in_use $((p + 10000)); do p=$((p + 1)); done
    echo "$p"
}

rss_bytes() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

wait_ready() {
    for _ in $(seq 1 100); do
        [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    echo "server on port $1 did not start" >&2
    exit 1
}

# The load, as RESP: KEYS SET commands with 16-byte keys and 64-byte values.
awk -v n="$KEYS" 'BEGIN {
    value = sprintf("%064d", 0)
    for (i = 0; i < n; i++) {
        key = sprintf("key:%012d", i)
        printf "*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$64\r\n%s\r\n", key, value
    }
}' >"$WORK/load.resp"

# Loads into the server (PID $2, port $3) and prints "name rss_per_key used_per_key".
measure() {
    local name=$1 pid=$2 port=$3
    wait_ready "$port"
    sleep 0.5
    local rss0 used0 rss1 used1 keys
    rss0=$(rss_bytes "$pid")
    used0=$(info_field "$port" used_memory memory)
    redis-cli -p "$port" --pipe <"$WORK/load.resp" >/dev/null
    keys=$(redis-cli -p "$port" dbsize)
    [ "$keys" -eq "$KEYS" ] || { echo "$name holds $keys keys, expected $KEYS" >&2; exit 1; }
    sleep 0.5
    rss1=$(rss_bytes "$pid")
    used1=$(info_field "$port" used_memory memory)
    echo "$name $(((rss1 - rss0) / KEYS)) $(((used1 - used0) / KEYS))"
}

port=$(free_port 21000)
"$SHOAL_BIN" --bind 127.0.0.1 --port "$port" --peer-port $((port + 10000)) --metrics-port 0 \
    >"$WORK/shoal.log" 2>&1 &
PIDS+=($!)
shoal=$(measure shoal "$!" "$port")

port=$(free_port $((port + 1)))
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
redis=$(measure "redis-server" "$!" "$port")

echo "$KEYS keys, 16-byte keys, 64-byte values"
printf '%-14s %16s %22s\n' server "RSS bytes/key" "used_memory bytes/key"
for line in "$shoal" "$redis"; do
    read -r name rss used <<<"$line"
    printf '%-14s %16s %22s\n' "$name" "$rss" "$used"
done
