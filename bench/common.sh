# Shell helpers shared by the benchmark scripts (sourced, not run).

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# One field of the CLUSTER INFO (or, given a third argument, of that INFO
# section) of the node whose client port is $1; empty if it does not answer.
info_field() {
    local reply
    if [ $# -gt 2 ]; then
        reply=$(timeout 2 redis-cli -p "$1" info "$3" 2>/dev/null) || true
    else
        reply=$(timeout 2 redis-cli -p "$1" cluster info 2>/dev/null) || true
    fi
    printf '%s\n' "$reply" | tr -d '\r' | sed -n "s/^$2://p"
}

# free_port: a port below the kernel's ephemeral range, free for TCP and UDP (the gossip
# port is the peer port, over UDP), and not handed out before in this run.
EPHEMERAL_LOW=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
TAKEN=" "
port_in_use() {
    # awk reads all of ss's output: `grep -q` would stop early and, under
    # pipefail, the pipeline would fail on ss's broken pipe.
    ss -Htuan 2>/dev/null | awk -v port="$1" '{ n = split($5, a, ":"); if (a[n] == port) found = 1 } END { exit !found }'
}
free_port() {
    local port
    for _ in $(seq 200); do
        port=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
        case $TAKEN in *" $port "*) continue ;; esac
        if ! port_in_use "$port"; then
            TAKEN="$TAKEN$port "
            echo "$port"
            return
        fi
    done
    echo "no free port found" >&2
    exit 2
}

# Stops the processes whose PIDs are given (processes the caller started):
# SIGTERM, up to 5 s (or `--within SEC` first) to exit, then SIGKILL; reaps
# them when they are the caller's children.
stop_pids() {
    local tenths=50
    if [ "${1:-}" = --within ]; then
        tenths=$(($2 * 10))
        shift 2
    fi
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null || true
    for _ in $(seq "$tenths"); do
        kill -0 "$@" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null || true
    wait "$@" 2>/dev/null || true
}
