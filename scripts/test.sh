#!/bin/sh
# Runs the Test::Nginx suite against the built module.  Each test file
# finds nginx and the module itself (t/inc/ZT/Test.pm) and starts its own
# Redis when it needs one (t/inc/ZT/Redis.pm); this script only picks the
# runner: openresty's Test::Nginx when installed, else the compatible one
# of t/lib.
#
# Inputs: MODULE (the .so), NGINX_BIN, TESTS, PROVE_FLAGS, ASAN=1 (the
# module is built with AddressSanitizer), VALGRIND=1 (nginx runs under
# valgrind memcheck, scripts/valgrind-report.pl judges its reports).
# Overridable: TEST_NGINX_PORT, TEST_NGINX_SERVROOT, TEST_NGINX_REDIS_PORT.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

: "${MODULE:?}" "${TESTS:=t/}" "${PROVE_FLAGS:=-r}"

export ZT_MODULE="$MODULE"
if [ -n "${NGINX_BIN:-}" ]; then
    export TEST_NGINX_BINARY="$NGINX_BIN"
fi

if [ "${ASAN:-}" = 1 ]; then
    LD_PRELOAD=$(gcc -print-file-name=libasan.so)
    export LD_PRELOAD
    # nginx frees its pools at exit, not each allocation: leak reports
    # would be noise; errors abort the worker and show in the error log
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$top/t/asan"
    rm -f "$top"/t/asan.*
fi

if [ "${VALGRIND:-}" = 1 ]; then
    command -v valgrind >/dev/null || {
        echo "valgrind is not installed: apt-get install valgrind" >&2
        exit 1
    }
    export ZT_VALGRIND_DIR="${ZT_VALGRIND_DIR:-$top/t/servroot-valgrind}"
    export ZT_VALGRIND_NGINX="${NGINX_BIN:-/usr/sbin/nginx}"
    export TEST_NGINX_BINARY="$top/scripts/valgrind-nginx.sh"
    # an answer takes ten times as long, and the leak check at exit more
    export TEST_NGINX_TIMEOUT="${TEST_NGINX_TIMEOUT:-30}"
    # a body sent 0.2 s after the header must still come after nginx has
    # read the header (t/inc/ZT/Test.pm)
    export ZT_TIME_SCALE="${ZT_TIME_SCALE:-10}"
    # Redis answers in time, nginx reads them 20 to 50 times slower
    export TEST_NGINX_REDIS_TIMEOUT="${TEST_NGINX_REDIS_TIMEOUT:-5s}"
    # workers, as in production: on QUIT a worker finishes its requests,
    # runs exit_process and frees the configuration; a single process
    # would drop its requests with their memory
    export TEST_NGINX_MASTER_PROCESS="${TEST_NGINX_MASTER_PROCESS:-on}"
    rm -rf "$ZT_VALGRIND_DIR"
    mkdir -p "$ZT_VALGRIND_DIR"
fi

# Under valgrind, the compatible runner in any case: openresty's runs nginx
# with "daemon on", and the process that forks the daemon exits without
# freeing the configuration, which would read as the module's leaks.
if [ "${VALGRIND:-}" = 1 ] || ! perl -MTest::Nginx::Socket -e 1 2>/dev/null
then
    PERL5LIB="$top/t/lib${PERL5LIB:+:$PERL5LIB}"
    export PERL5LIB
fi

prove $PROVE_FLAGS $TESTS
rc=$?

if [ "${ASAN:-}" = 1 ] && ls "$top"/t/asan.* >/dev/null 2>&1; then
    echo "AddressSanitizer reports:" >&2
    cat "$top"/t/asan.* >&2
    rc=1
fi

if [ "${VALGRIND:-}" = 1 ]; then
    perl scripts/valgrind-report.pl "$ZT_VALGRIND_DIR" || rc=1
fi

exit $rc
