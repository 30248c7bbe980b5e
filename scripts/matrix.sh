#!/bin/sh
# Builds the module and an nginx for each nginx.org source tree given, and
# runs the suite against each, with and without --with-debug; prints one
# line per run (version, flags, files, tests, result, wallclock) and fails
# when any run fails.  Each build goes to its own build-<version>[-<flags>]/,
# each log to t/matrix/.
#
#   ECHO_SRC=/path/to/echo-nginx-module sh scripts/matrix.sh \
#       /tmp/nginx-1.26.3 /tmp/nginx-1.28.3 /tmp/nginx-1.31.4
#
# A source tree is a release tarball, or a git export of a release tag with
# auto/configure copied to configure:
#   git --git-dir=NGINX.git archive release-1.28.3 | tar -x -C /tmp/nginx-1.28.3
#   cp /tmp/nginx-1.28.3/auto/configure /tmp/nginx-1.28.3/configure
#
# Inputs: ECHO_SRC (required), MATRIX_FLAGS (the configure flag sets to try,
# separated by ";", an empty one meaning none; default ";--with-debug"),
# TESTS, TEST_NGINX_PORT, TEST_NGINX_REDIS_PORT as for make test.
set -u

: "${ECHO_SRC:?the suite needs the echo module: ECHO_SRC=/path/to/echo-nginx-module}"
[ $# -gt 0 ] || { echo "usage: $0 NGINX_SRC..." >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

flag_sets=${MATRIX_FLAGS-;--with-debug}
logs=$top/t/matrix
mkdir -p "$logs"
summary=""
rc=0

for src in "$@"; do
    src=$(cd "$src" && pwd) || { rc=1; continue; }
    version=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
              "$src/src/core/nginx.h")

    # one line a flag set, an empty line for none
    while IFS= read -r flags; do
        tag=$version${flags:+-$(echo "$flags" | sed 's/--//g; s/[^a-z0-9.]/-/g')}
        log=$logs/$tag.log
        start=$(date +%s)
        make test NGINX_SRC="$src" ECHO_SRC="$ECHO_SRC" \
            NGINX_CONFIGURE="$flags" BUILD="build-$tag" \
            >"$log" 2>&1 </dev/null
        status=$?
        secs=$(($(date +%s) - start))
        counts=$(sed -n 's/^Files=\([0-9]*\), Tests=\([0-9]*\),.*/\1 \2/p' \
                 "$log" | tail -1)
        result=$(grep -E '^Result: ' "$log" | tail -1 | cut -c9-)
        [ $status -eq 0 ] || { rc=1; result="FAIL (see $log)"; }
        line="| $version | ${flags:-(none)} | ${counts% *} | ${counts#* } |"
        line="$line ${result:-FAIL} | ${secs} s |"
        echo "$line"
        summary="$summary$line
"
    done <<EOF
$(printf '%s\n' "$flag_sets" | tr ';' '\n')
EOF
done

echo
echo "| nginx | configure flags | files | tests | result | wallclock |"
echo "|---|---|---|---|---|---|"
printf '%s' "$summary"
exit $rc
