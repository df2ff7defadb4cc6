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
