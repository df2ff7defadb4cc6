#!/usr/bin/env bash
# Starts or stops a three-node Shoal cluster on loopback, for benchmarks.
#
# usage: bench/local_cluster.sh start [--ports P1,P2,P3] [--profile lan|fast|wan]
#                                     [--replicas N] [--threads N]
#        bench/local_cluster.sh stop
#        bench/local_cluster.sh status
#
# start: runs three `shoal` processes (ids n1 n2 n3) with the given client
#        ports (default 7001,7002,7003); each node's peer and gossip port is
#        its client port + 10000; n2 and n3 join through n1. Metrics are off.
#        --replicas sets cluster.replicas (default: the node default, 1);
#        --threads sets server.threads (default: one per core).
#        Returns once every node reports 3 known nodes, all serving slots.
# stop:  stops the processes it started (SIGTERM, then SIGKILL after 10 s),
#        by the PIDs it recorded, and removes its state directory.
#
# Builds nothing: run `cargo build --release` first. Uses
# target/release/shoal (or $SHOAL_BIN); needs redis-cli (and ss to check
# that the ports are free). PIDs and logs go to
# $SHOAL_CLUSTER_DIR (default: shoal-local-cluster-<uid> in $TMPDIR or /tmp).

set -euo pipefail

SHOAL_BIN=${SHOAL_BIN:-target/release/shoal}
STATE_DIR=${SHOAL_CLUSTER_DIR:-${TMPDIR:-/tmp}/shoal-local-cluster-$(id -u)}
FORM_TIMEOUT_S=30

usage() {
    sed -n '2,/^# \$SHOAL_CLUSTER_DIR/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

. "$(dirname "$0")/common.sh"

# The PIDs recorded in the state directory that still run a shoal process.
live_pids() {
    local file pid
    for file in "$STATE_DIR"/*.pid; do
        [ -e "$file" ] || continue
        pid=$(cat "$file")
        if grep -qa shoal "/proc/$pid/cmdline" 2>/dev/null; then
            echo "$pid"
        fi
    done
}

# Whether a listening TCP or a bound UDP socket uses the port (connections
# left in TIME_WAIT do not keep a node from binding it).
port_in_use() {
    command -v ss >/dev/null || return 1
    # awk reads all of ss's output: `grep -q` would stop early and, under
    # pipefail, the pipeline would fail on ss's broken pipe.
    ss -Htuln 2>/dev/null | awk -v port="$1" '{ n = split($5, a, ":"); if (a[n] == port) found = 1 } END { exit !found }'
}

start() {
    local ports=7001,7002,7003 profile=lan
    local -a extra=()
    while [ $# -gt 0 ]; do
        case $1 in
            --ports) ports=${2:?}; shift 2 ;;
            --replicas) extra+=(--replicas "${2:?}"); shift 2 ;;
            --threads) extra+=(--threads "${2:?}"); shift 2 ;;
            --profile) profile=${2:?}; shift 2 ;;
            *) echo "unknown argument: $1" >&2; usage ;;
        esac
    done
    local -a port
    IFS=, read -r -a port <<<"$ports"
    [ ${#port[@]} -eq 3 ] || usage
    [ -x "$SHOAL_BIN" ] || { echo "no $SHOAL_BIN: run 'cargo build --release' first (or set SHOAL_BIN)" >&2; exit 2; }
    if [ -n "$(live_pids)" ]; then
        echo "a cluster started from $STATE_DIR is running; stop it first" >&2
        exit 1
    fi
    local p
    for p in "${port[@]}"; do
        if port_in_use "$p" || port_in_use $((p + 10000)); then
            echo "port $p or $((p + 10000)) is in use; choose others with --ports" >&2
            exit 1
        fi
    done
    mkdir -p "$STATE_DIR"
    rm -f "$STATE_DIR"/*.pid
    local i seeds
    local -a pid
    for i in 0 1 2; do
        seeds=()
        [ "$i" -gt 0 ] && seeds=(--seeds "127.0.0.1:$((port[0] + 10000))")
        nohup "$SHOAL_BIN" --node-id "n$((i + 1))" --bind 127.0.0.1 --port "${port[$i]}" \
            --peer-port "$((port[i] + 10000))" --metrics-port 0 --gossip-profile "$profile" \
            "${seeds[@]}" "${extra[@]}" >"$STATE_DIR/n$((i + 1)).log" 2>&1 </dev/null &
        pid[i]=$!
        echo "${pid[$i]}" >"$STATE_DIR/n$((i + 1)).pid"
    done
    local deadline pending
    deadline=$(($(now_ms) + FORM_TIMEOUT_S * 1000))
    while :; do
        pending=0
        for i in 0 1 2; do
            if ! kill -0 "${pid[$i]}" 2>/dev/null; then
                echo "node n$((i + 1)) exited; last log lines:" >&2
                tail -n 5 "$STATE_DIR/n$((i + 1)).log" >&2
                stop
                exit 1
            fi
            # The answer must come from our process, not from another
            # server that took the port first.
            if [ "$(info_field "${port[$i]}" process_id server)" != "${pid[$i]}" ] ||
                [ "$(info_field "${port[$i]}" cluster_known_nodes)" != 3 ] ||
                [ "$(info_field "${port[$i]}" cluster_size)" != 3 ]; then
                pending=1
            fi
        done
        [ "$pending" -eq 0 ] && break
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "the cluster did not form within ${FORM_TIMEOUT_S}s; last log lines:" >&2
            tail -n 5 "$STATE_DIR"/*.log >&2
            stop
            exit 1
        fi
        sleep 0.1
    done
    echo "cluster up: 127.0.0.1:${port[0]},127.0.0.1:${port[1]},127.0.0.1:${port[2]} (pids $(live_pids | tr '\n' ' ')) state $STATE_DIR"
}

stop() {
    local -a pids
    mapfile -t pids < <(live_pids)
    stop_pids --within 10 "${pids[@]}"
    rm -rf "$STATE_DIR"
    echo "stopped ${#pids[@]} node(s)"
}

status() {
    local pids
    pids=$(live_pids)
    if [ -n "$pids" ]; then
        echo "running: pids $(echo "$pids" | tr '\n' ' ')(state $STATE_DIR)"
    else
        echo "not running"
    fi
}

case ${1:-} in
    start) shift; start "$@" ;;
    stop) stop ;;
    status) status ;;
    *) usage ;;
esac
