#!/bin/sh
# Starts or stops the private redis-server the tests and the demo use:
# its own port and data directory, never the system's.
#
# Environment: TEST_NGINX_REDIS_PORT, TEST_NGINX_REDIS_DIR.
set -u

port="${TEST_NGINX_REDIS_PORT:-16379}"
dir="${TEST_NGINX_REDIS_DIR:-/tmp/zt-redis-$port}"

case "${1:-}" in
start)
    mkdir -p "$dir"
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
        --daemonize yes --pidfile "$dir/redis.pid" \
        --logfile "$dir/redis.log" --save "" --appendonly yes \
        >/dev/null || exit 1
    i=0
    until redis-cli -p "$port" ping >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 50 ] && { echo "redis did not start" >&2; exit 1; }
        sleep 0.1
    done
    ;;
stop)
    if [ -f "$dir/redis.pid" ]; then
        pid=$(cat "$dir/redis.pid")
        kill -CONT "$pid" 2>/dev/null
        kill "$pid" 2>/dev/null
        rm -f "$dir/redis.pid"
    fi
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
