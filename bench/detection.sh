#!/usr/bin/env bash
# Failure-detection time of a local Shoal cluster.
#
# Starts NODES (5) `shoal` processes on free loopback ports, waits until
# every node reports `cluster_known_nodes:5`, SIGKILLs one node (by PID)
# and polls the survivors every 50 ms with `redis-cli CLUSTER INFO` until
# each reports `cluster_known_nodes:4`. A round's time is from the kill
# until the LAST survivor has dropped the victim. The victim is then
# restarted (same id and ports), the cluster re-forms, and the next round
# kills the next node. Prints each round, then the median, min and max.
#
# Builds nothing: run `cargo build --release` first. Uses
# target/release/shoal (or $SHOAL_BIN); needs redis-cli and ss.
#
# usage: bench/detection.sh [--profile lan|fast|wan] [--rounds N] [--nodes N]
#   --profile  gossip timing profile passed to every node (default lan,
#              the default of a node)
#   --rounds   kills to measure (default 10)
#   --nodes    cluster size, at least 3 (default 5)
# Every process it starts is stopped on exit, by PID.

set -euo pipefail

PROFILE=lan
ROUNDS=10
NODES=5
POLL=0.05
FORM_TIMEOUT_S=60
DETECT_TIMEOUT_S=120
SHOAL_BIN=${SHOAL_BIN:-target/release/shoal}

usage() {
    sed -n '2,/^# Every process/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
        --profile) PROFILE=${2:?}; shift 2 ;;
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        --nodes) NODES=${2:?}; shift 2 ;;
        -h | --help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[ "$NODES" -ge 3 ] || usage
[ -x "$SHOAL_BIN" ] || { echo "no $SHOAL_BIN: run 'cargo build --release' first (or set SHOAL_BIN)" >&2; exit 2; }
for tool in redis-cli ss; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

. "$(dirname "$0")/common.sh"

WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/shoal-detection.XXXXXX")
declare -a PID CLIENT_PORT PEER_PORT

cleanup() {
    local status=$? pids=()
    for i in "${!PID[@]}"; do
        [ -n "${PID[$i]}" ] && pids+=("${PID[$i]}")
    done
    stop_pids "${pids[@]}"
    if [ "$status" -eq 0 ]; then
        rm -rf "$WORKDIR"
    else
        echo "node logs kept in $WORKDIR" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# Node 1 is the seed every other node joins through; victims are the others.
start_node() {
    local i=$1 seeds=()
    [ "$i" -gt 1 ] && seeds=(--seeds "127.0.0.1:${PEER_PORT[1]}")
    "$SHOAL_BIN" --node-id "det$i" --bind 127.0.0.1 --port "${CLIENT_PORT[$i]}" \
        --peer-port "${PEER_PORT[$i]}" --metrics-port 0 --gossip-profile "$PROFILE" \
        "${seeds[@]}" >>"$WORKDIR/det$i.log" 2>&1 &
    PID[$i]=$!
}

# Waits until every node in the list sees `want` members, all serving.
wait_formed() {
    local want=$1 deadline i pending
    shift
    deadline=$(($(now_ms) + FORM_TIMEOUT_S * 1000))
    while :; do
        pending=0
        for i in "$@"; do
            if ! kill -0 "${PID[$i]}" 2>/dev/null; then
                echo "node det$i exited; its log:" >&2
                tail -20 "$WORKDIR/det$i.log" >&2
                exit 1
            fi
            # The answer must come from our process, not from another
            # server that took the port first.
            if [ "$(info_field "${CLIENT_PORT[$i]}" process_id server)" != "${PID[$i]}" ] ||
                [ "$(info_field "${CLIENT_PORT[$i]}" cluster_known_nodes)" != "$want" ] ||
                [ "$(info_field "${CLIENT_PORT[$i]}" cluster_size)" != "$want" ]; then
                pending=1
                break
            fi
        done
        [ "$pending" -eq 0 ] && return
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "the cluster did not form with $want nodes within ${FORM_TIMEOUT_S}s" >&2
            exit 1
        fi
        sleep "$POLL"
    done
}

# Kills node `victim`; sets FIRST and LAST to the ms from the kill until the
# first and the last survivor reported one node less.
measure_kill() {
    local victim=$1 want=$((NODES - 1)) t0 now i
    FIRST=""
    local -a survivors=()
    for i in $(seq "$NODES"); do
        [ "$i" -ne "$victim" ] && survivors+=("$i")
    done
    t0=$(now_ms)
    kill -KILL "${PID[$victim]}"
    wait "${PID[$victim]}" 2>/dev/null || true
    PID[$victim]=""
    while [ ${#survivors[@]} -gt 0 ]; do
        local -a still=()
        for i in "${survivors[@]}"; do
            if [ "$(info_field "${CLIENT_PORT[$i]}" cluster_known_nodes)" = "$want" ]; then
                now=$(now_ms)
                [ -z "$FIRST" ] && FIRST=$((now - t0))
            else
                still+=("$i")
            fi
        done
        survivors=("${still[@]+"${still[@]}"}")
        [ ${#survivors[@]} -eq 0 ] && break
        if [ $(($(now_ms) - t0)) -gt $((DETECT_TIMEOUT_S * 1000)) ]; then
            echo "survivors ${survivors[*]} still list det$victim after ${DETECT_TIMEOUT_S}s" >&2
            exit 1
        fi
        sleep "$POLL"
    done
    LAST=$((now - t0))
}

for i in $(seq "$NODES"); do
    CLIENT_PORT[$i]=$(free_port)
    PEER_PORT[$i]=$(free_port)
done
echo "profile $PROFILE, $NODES nodes, $ROUNDS rounds, client ports ${CLIENT_PORT[*]}"
start_node 1
for i in $(seq 2 "$NODES"); do
    start_node "$i"
done
ALL=$(seq "$NODES")
# shellcheck disable=SC2086 # ALL is a list of node numbers.
wait_formed "$NODES" $ALL

RESULTS=()
for round in $(seq "$ROUNDS"); do
    victim=$((2 + (round - 1) % (NODES - 1)))
    measure_kill "$victim"
    RESULTS+=("$LAST")
    printf 'round %2d: det%d killed; first survivor %5d ms, last survivor %5d ms\n' \
        "$round" "$victim" "$FIRST" "$LAST"
    start_node "$victim"
    # shellcheck disable=SC2086
    wait_formed "$NODES" $ALL
done

printf '%s\n' "${RESULTS[@]}" | sort -n | awk -v profile="$PROFILE" '
    { v[NR] = $1 }
    END {
        median = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "detection %s: median %d ms, min %d ms, max %d ms (%d rounds)\n",
            profile, median, v[1], v[NR], NR
    }'
