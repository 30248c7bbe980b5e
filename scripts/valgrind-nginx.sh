#!/bin/sh
# nginx under valgrind memcheck, for `make test-valgrind`: the tests run
# this as their nginx (TEST_NGINX_BINARY).  Every process, workers
# included, writes its own report to $ZT_VALGRIND_DIR/vg.PID, beside a
# copy of the configuration it was started with (vg.PID.conf); a query of
# the version (-V, -v) runs nginx as it is.
#
# Environment: ZT_VALGRIND_NGINX (the nginx binary), ZT_VALGRIND_DIR.

: "${ZT_VALGRIND_NGINX:?}" "${ZT_VALGRIND_DIR:?}"

conf=
prev=
for arg in "$@"; do
    [ "$prev" = -c ] && conf=$arg
    prev=$arg
done

case "${1:-}" in
-V|-v)
    exec "$ZT_VALGRIND_NGINX" "$@"
    ;;
esac

# exec keeps the pid: the report of this process is vg.$$
if [ -n "$conf" ]; then
    cp "$conf" "$ZT_VALGRIND_DIR/vg.$$.conf" 2>/dev/null
fi

# --keep-debuginfo: nginx unloads the module (dlclose) before it exits,
# when valgrind looks for leaks; their stacks still name its functions
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=all \
    --keep-debuginfo=yes --num-callers=40 \
    --log-file="$ZT_VALGRIND_DIR/vg.%p" "$ZT_VALGRIND_NGINX" "$@"
