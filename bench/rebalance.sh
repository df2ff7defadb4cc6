#!/usr/bin/env bash
# How fast a join moves data, and what the move costs reads.
#
# Starts three `shoal` processes (n1..n3) on free loopback ports (n2 and n3
# join through n1), loads KEYS (1000000) keys `key:%012d` with 64-byte
# values through `redis-cli --pipe`, and measures GET throughput on n1
# (`redis-benchmark -t get` over the loaded keys, REQUESTS requests) with
# the cluster quiet. Then starts n4 (seeded with n1) and at the same moment
# the same GET run, and polls every 50 ms until every node's `SHOAL MEMBERS`
# shows n4 `active`. Prints the keys and bytes the nodes pulled (`SHOAL
# REBALANCE` `keys_pulled`/`bytes_pulled`, summed over the nodes, minus what
# they had pulled before the join), the time from starting n4 to n4 being
# active on every node, the window in which the nodes' views disagreed (from
# the first node seeing n4 active to the last) with the wrong-owner answers,
# retried attempts and -TRYAGAIN replies counted meanwhile,
# the keys/s of the move, both GET throughputs and their ratio, and how
# much of the second GET run overlapped the move. Then n4 leaves again
# (`SHOAL LEAVE`) under a third GET run: prints when its process exited,
# when every remaining node stopped listing it, the keys pulled back, the
# wrong-owner answers, retries and -TRYAGAIN replies meanwhile, and DBSIZE.
#
# Builds nothing: run `cargo build --release` first. Uses
# target/release/shoal (or $SHOAL_BIN); needs redis-cli, redis-benchmark
# and ss.
#
# usage: bench/rebalance.sh [--keys N] [--requests N] [--clients N]
#                           [--rate SIZE] [--profile lan|fast|wan]
#   --keys      keys loaded before the join (default 1000000)
#   --requests  GETs per throughput run (default 200000)
#   --clients   redis-benchmark connections (default 50)
#   --rate      rebalance.max_bytes_per_sec of every node (default: the
#               node default, 64mb; 0 = unlimited)
#   --profile   gossip timing profile (default lan, a node's default)
# Every process it starts is stopped on exit, by PID.

set -euo pipefail

KEYS=1000000
REQUESTS=200000
CLIENTS=50
RATE=""
PROFILE=lan
POLL=0.05
FORM_TIMEOUT_S=60
JOIN_TIMEOUT_S=900
SHOAL_BIN=${SHOAL_BIN:-target/release/shoal}

usage() {
    sed -n '2,/^# Every process/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
        --keys) KEYS=${2:?}; shift 2 ;;
        --requests) REQUESTS=${2:?}; shift 2 ;;
        --clients) CLIENTS=${2:?}; shift 2 ;;
        --rate) RATE=${2:?}; shift 2 ;;
        --profile) PROFILE=${2:?}; shift 2 ;;
        -h | --help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[ -x "$SHOAL_BIN" ] || { echo "no $SHOAL_BIN: run 'cargo build --release' first (or set SHOAL_BIN)" >&2; exit 2; }
for tool in redis-cli redis-benchmark ss; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

. "$(dirname "$0")/common.sh"

WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/shoal-rebalance.XXXXXX")
declare -a PID CLIENT_PORT PEER_PORT
BENCH_PID=""

cleanup() {
    local status=$? pids=()
    [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null || true
    for i in "${!PID[@]}"; do
        [ -n "${PID[$i]}" ] && pids+=("${PID[$i]}")
    done
    # A node in a cluster hands its slots over before it exits; stop_pids
    # does not wait long for that (the cluster is going away as a whole).
    stop_pids "${pids[@]}"
    if [ "$status" -eq 0 ]; then
        rm -rf "$WORKDIR"
    else
        echo "node logs kept in $WORKDIR" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM


start_node() {
    local i=$1 seeds=()
    [ "$i" -gt 1 ] && seeds=(--seeds "127.0.0.1:${PEER_PORT[1]}")
    if [ -n "$RATE" ]; then
        export SHOAL_REBALANCE__MAX_BYTES_PER_SEC=$RATE
    fi
    "$SHOAL_BIN" --node-id "n$i" --bind 127.0.0.1 --port "${CLIENT_PORT[$i]}" \
        --peer-port "${PEER_PORT[$i]}" --metrics-port 0 --gossip-profile "$PROFILE" \
        --log-level warn "${seeds[@]}" >>"$WORKDIR/n$i.log" 2>&1 </dev/null &
    PID[$i]=$!
}

# Whether node i is running; exits with its log if not.
check_alive() {
    if ! kill -0 "${PID[$1]}" 2>/dev/null; then
        echo "node n$1 exited; its log:" >&2
        tail -20 "$WORKDIR/n$1.log" >&2
        exit 1
    fi
}

# Waits until nodes 1..3 each see 3 members, all serving.
wait_formed() {
    local deadline i pending
    deadline=$(($(now_ms) + FORM_TIMEOUT_S * 1000))
    while :; do
        pending=0
        for i in 1 2 3; do
            check_alive "$i"
            # The answer must come from our process, not from another
            # server that took the port first.
            if [ "$(info_field "${CLIENT_PORT[$i]}" process_id server)" != "${PID[$i]}" ] ||
                [ "$(info_field "${CLIENT_PORT[$i]}" cluster_known_nodes)" != 3 ] ||
                [ "$(info_field "${CLIENT_PORT[$i]}" cluster_size)" != 3 ]; then
                pending=1
                break
            fi
        done
        [ "$pending" -eq 0 ] && return
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "the cluster did not form within ${FORM_TIMEOUT_S}s" >&2
            exit 1
        fi
        sleep "$POLL"
    done
}

# The state of member $2 in the SHOAL MEMBERS of the node on port $1
# (RESP2: one field name or value per line); empty if not listed.
member_state() {
    timeout 2 redis-cli -p "$1" shoal members 2>/dev/null | tr -d '\r' | awk -v id="$2" '
        prev == "node-id" { current = $0 }
        prev == "state" && current == id { print; exit }
        { prev = $0 }'
}

# Field $2 of SHOAL REBALANCE on port $1; empty if the node does not answer it.
rebalance_field() {
    timeout 2 redis-cli -p "$1" shoal rebalance 2>/dev/null | tr -d '\r' | awk -v name="$2" '
        prev == name { print; exit }
        { prev = $0 }'
}

# The sum of SHOAL REBALANCE field $1 over nodes 1..$2; "n/a" if a node
# does not report it.
pulled_sum() {
    local field=$1 nodes=$2 sum=0 value i
    for i in $(seq "$nodes"); do
        value=$(rebalance_field "${CLIENT_PORT[$i]}" "$field")
        case $value in
            '' | *[!0-9]*) echo n/a; return ;;
        esac
        sum=$((sum + value))
    done
    echo "$sum"
}

# GETs over the loaded keys against n1; prints requests/s.
get_rps() {
    redis-benchmark -p "${CLIENT_PORT[1]}" -t get -n "$REQUESTS" -c "$CLIENTS" -r "$KEYS" --csv |
        tail -1 | tr -d '"' | awk -F, '{ print $2 }'
}

for i in 1 2 3 4; do
    CLIENT_PORT[$i]=$(free_port)
    PEER_PORT[$i]=$(free_port)
done
echo "$KEYS keys of 64 bytes, $REQUESTS GETs per run, $CLIENTS clients, profile $PROFILE, rate ${RATE:-default}"
for i in 1 2 3; do
    start_node "$i"
done
wait_formed

# The load, as RESP: the keys redis-benchmark -r reads (`key:` and 12 digits).
awk -v n="$KEYS" 'BEGIN {
    value = sprintf("%064d", 0)
    for (i = 0; i < n; i++) {
        printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$64\r\n%s\r\n", i, value
    }
}' >"$WORKDIR/load.resp"
t0=$(now_ms)
redis-cli -p "${CLIENT_PORT[1]}" --pipe <"$WORKDIR/load.resp" >"$WORKDIR/pipe.out"
loaded=$(redis-cli -p "${CLIENT_PORT[1]}" dbsize)
echo "loaded $loaded keys in $(($(now_ms) - t0)) ms"
[ "$loaded" -eq "$KEYS" ] || { echo "DBSIZE $loaded, expected $KEYS" >&2; exit 1; }
rm -f "$WORKDIR/load.resp"

before=$(get_rps)
echo "GET before the join: $before requests/s"
keys_before=$(pulled_sum keys_pulled 3)
bytes_before=$(pulled_sum bytes_pulled 3)
wrong_before=$(pulled_sum wrong_owner_answers 3)
retries_before=$(pulled_sum request_retries 3)
tryagain_before=$(pulled_sum tryagain_replies 3)

# The join, with the second GET run alongside.
join_ms=$(now_ms)
start_node 4
redis-benchmark -p "${CLIENT_PORT[1]}" -t get -n "$REQUESTS" -c "$CLIENTS" -r "$KEYS" --csv \
    >"$WORKDIR/during.csv" 2>/dev/null &
BENCH_PID=$!
seen_ms=""
first_active_ms=""
while :; do
    check_alive 4
    state=$(member_state "${CLIENT_PORT[1]}" n4)
    now=$(now_ms)
    [ -n "$state" ] && [ -z "$seen_ms" ] && seen_ms=$((now - join_ms))
    # Every node's view: the window in which they disagree about n4.
    active_views=0
    for i in 1 2 3 4; do
        [ "$(member_state "${CLIENT_PORT[$i]}" n4)" = active ] && active_views=$((active_views + 1))
    done
    now=$(now_ms)
    [ "$active_views" -gt 0 ] && [ -z "$first_active_ms" ] && first_active_ms=$((now - join_ms))
    [ "$active_views" -eq 4 ] && break
    if [ $((now - join_ms)) -gt $((JOIN_TIMEOUT_S * 1000)) ]; then
        echo "n4 not active after ${JOIN_TIMEOUT_S}s (n1 sees it as '${state:-absent}')" >&2
        exit 1
    fi
    sleep "$POLL"
done
active_ms=$((now - join_ms))
bench_running=0
kill -0 "$BENCH_PID" 2>/dev/null && bench_running=1
wait "$BENCH_PID"
BENCH_PID=""
bench_ms=$(($(now_ms) - join_ms))
during=$(tail -1 "$WORKDIR/during.csv" | tr -d '"' | awk -F, '{ print $2 }')

keys_after=$(pulled_sum keys_pulled 4)
bytes_after=$(pulled_sum bytes_pulled 4)
wrong_after=$(pulled_sum wrong_owner_answers 4)
retries_after=$(pulled_sum request_retries 4)
tryagain_after=$(pulled_sum tryagain_replies 4)
after=$(redis-cli -p "${CLIENT_PORT[1]}" dbsize)
[ "$after" -eq "$KEYS" ] || echo "warning: DBSIZE $after after the join, expected $KEYS" >&2

echo "n4 listed by n1 after ${seen_ms:-?} ms; first seen active after ${first_active_ms:-?} ms, by all four nodes after $active_ms ms"
if [ "$wrong_after" != n/a ] && [ "$wrong_before" != n/a ]; then
    echo "window: views disagreed for $((active_ms - first_active_ms)) ms (50 ms polling);" \
        "$((wrong_after - wrong_before)) wrong-owner answers, $((retries_after - retries_before)) retried attempts," \
        "$((tryagain_after - tryagain_before)) -TRYAGAIN replies to clients"
fi
if [ "$keys_after" = n/a ] || [ "$keys_before" = n/a ]; then
    echo "move: keys pulled unknown (a node does not answer SHOAL REBALANCE)"
else
    moved=$((keys_after - keys_before))
    bytes=$((bytes_after - bytes_before))
    awk -v k="$moved" -v b="$bytes" -v ms="$active_ms" 'BEGIN {
        s = (ms > 0 ? ms : 1) / 1000
        printf "move: %d keys, %.1f MB pulled in %d ms: %.0f keys/s, %.1f MB/s\n", k, b / 1e6, ms, k / s, b / 1e6 / s
    }'
fi
if [ "$bench_running" -eq 1 ]; then
    overlap="the first $active_ms ms of its $bench_ms ms"
else
    overlap="all of it: the run ended before n4 became active"
fi
echo "GET during the join: $during requests/s (the move covered $overlap)"
awk -v a="$before" -v b="$during" 'BEGIN { printf "GET ratio during/before: %.3f\n", b / a }'

# The leave: n4 hands its slots back (SHOAL LEAVE) while GETs run on n1.
keys_before=$(pulled_sum keys_pulled 3)
wrong_before=$(pulled_sum wrong_owner_answers 3)
retries_before=$(pulled_sum request_retries 3)
tryagain_before=$(pulled_sum tryagain_replies 3)
redis-benchmark -p "${CLIENT_PORT[1]}" -t get -n "$REQUESTS" -c "$CLIENTS" -r "$KEYS" --csv \
    >"$WORKDIR/leave.csv" 2>"$WORKDIR/leave.err" &
BENCH_PID=$!
leave_ms=$(now_ms)
redis-cli -p "${CLIENT_PORT[4]}" shoal leave >/dev/null
while kill -0 "${PID[4]}" 2>/dev/null; do
    if [ $(($(now_ms) - leave_ms)) -gt $((JOIN_TIMEOUT_S * 1000)) ]; then
        echo "n4 still running ${JOIN_TIMEOUT_S}s after SHOAL LEAVE" >&2
        exit 1
    fi
    sleep "$POLL"
done
exited_ms=$(($(now_ms) - leave_ms))
wait "${PID[4]}" && status=0 || status=$?
PID[4]=""
# Gone from every remaining view.
while :; do
    gone=0
    for i in 1 2 3; do
        [ -z "$(member_state "${CLIENT_PORT[$i]}" n4)" ] && gone=$((gone + 1))
    done
    [ "$gone" -eq 3 ] && break
    sleep "$POLL"
done
gone_ms=$(($(now_ms) - leave_ms))
wait "$BENCH_PID"
BENCH_PID=""
during_leave=$(tail -1 "$WORKDIR/leave.csv" | tr -d '"' | awk -F, '{ print $2 }')
keys_after=$(pulled_sum keys_pulled 3)
echo "leave: n4 exited with status $status after $exited_ms ms; gone from every view after $gone_ms ms;" \
    "$((keys_after - keys_before)) keys pulled by n1..n3;" \
    "$(($(pulled_sum wrong_owner_answers 3) - wrong_before)) wrong-owner answers by n1..n3," \
    "$(($(pulled_sum request_retries 3) - retries_before)) retried attempts," \
    "$(($(pulled_sum tryagain_replies 3) - tryagain_before)) -TRYAGAIN replies"
after=$(redis-cli -p "${CLIENT_PORT[1]}" dbsize)
echo "DBSIZE after the leave: $after (expected $KEYS); GET during the leave: $during_leave requests/s"
