#!/bin/sh
# Runs the Test::Nginx suite against the built module: starts a private
# redis-server for it, and always stops it again, pass or fail.
#
# Inputs: MODULE (the .so), NGINX_BIN, TESTS, PROVE_FLAGS, ASAN=1.
# Overridable: TEST_NGINX_PORT, TEST_NGINX_SERVROOT, TEST_NGINX_REDIS_PORT.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

: "${MODULE:?}" "${NGINX_BIN:=/usr/sbin/nginx}" "${TESTS:=t/}"
: "${PROVE_FLAGS:=-r}"

export TEST_NGINX_BINARY="$NGINX_BIN"
export TEST_NGINX_LOAD_MODULES="$MODULE /usr/lib/nginx/modules/ngx_http_echo_module.so"
export TEST_NGINX_REDIS_PORT="${TEST_NGINX_REDIS_PORT:-16379}"
export TEST_NGINX_PORT="${TEST_NGINX_PORT:-1984}"
export TEST_NGINX_DATA_DIR="$top/t/data"
export TEST_NGINX_REDIS_DIR="$top/t/servroot-redis-$TEST_NGINX_REDIS_PORT"

if [ "${ASAN:-}" = 1 ]; then
    LD_PRELOAD=$(gcc -print-file-name=libasan.so)
    export LD_PRELOAD
    # nginx frees its pools at exit, not each allocation: leak reports
    # would be noise; errors abort the worker and show in the error log
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$top/t/asan"
    rm -f "$top"/t/asan.*
fi

# the real Test::Nginx when installed, else the project's compatible runner
if ! perl -MTest::Nginx::Socket -e 1 2>/dev/null; then
    PERL5LIB="$top/t/lib${PERL5LIB:+:$PERL5LIB}"
    export PERL5LIB
fi

# a run starts from an empty Redis: what an earlier run parked is not ours
sh scripts/redis.sh stop
rm -rf "$TEST_NGINX_REDIS_DIR"
sh scripts/redis.sh start || exit 1
trap 'LD_PRELOAD= sh scripts/redis.sh stop' EXIT INT TERM

prove $PROVE_FLAGS $TESTS
rc=$?

if [ "${ASAN:-}" = 1 ] && ls "$top"/t/asan.* >/dev/null 2>&1; then
    echo "AddressSanitizer reports:" >&2
    cat "$top"/t/asan.* >&2
    rc=1
fi

exit $rc
