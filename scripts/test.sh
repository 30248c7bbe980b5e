#!/bin/sh
# Runs the Test::Nginx suite against the built module.  Each test file
# finds nginx and the module itself (t/inc/ZT/Test.pm) and starts its own
# Redis when it needs one (t/inc/ZT/Redis.pm); this script only picks the
# runner: openresty's Test::Nginx when installed, else the compatible one
# of t/lib.
#
# Inputs: MODULE (the .so), NGINX_BIN, TESTS, PROVE_FLAGS, ASAN=1.
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

if ! perl -MTest::Nginx::Socket -e 1 2>/dev/null; then
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

exit $rc
