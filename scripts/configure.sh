#!/bin/bash
# Configures an nginx source tree for the build: Debian's
# /usr/share/nginx/src with the exact flags Debian's binary was built with
# (so the module's signature matches it), or $NGINX_SRC with --with-compat
# and the modules the test suite uses, plus $NGINX_CONFIGURE, and the echo
# module of $ECHO_SRC when given.
set -eu

: "${BUILD_DIR:?}" "${MODULE_DIR:?}"

if [ -n "${NGINX_SRC:-}" ]; then
    [ -x "$NGINX_SRC/configure" ] || {
        echo "NGINX_SRC=$NGINX_SRC has no configure script (in a git" \
             "checkout of nginx: cp auto/configure configure)" >&2
        exit 1
    }
    cp -a "$NGINX_SRC" "$BUILD_DIR"
    # the modules the suite's configurations use: sub_filter, gunzip,
    # dav_methods (a JWKS upload), ssl (client certificates, TLS upstreams)
    flags=(--with-compat --with-threads --with-http_sub_module
           --with-http_gunzip_module --with-http_dav_module
           --with-http_ssl_module)
    # shellcheck disable=SC2206
    flags+=(${NGINX_CONFIGURE:-})
    if [ -n "${ECHO_SRC:-}" ]; then
        flags+=(--add-dynamic-module="$(cd "$ECHO_SRC" && pwd)")
    fi
else
    cp -a /usr/share/nginx/src "$BUILD_DIR"
    # shellcheck disable=SC1091
    . "$BUILD_DIR/conf_flags"
    flags=("${NGX_CONF_FLAGS[@]}")
fi

cd "$BUILD_DIR"
./configure "${flags[@]}" --add-dynamic-module="$MODULE_DIR" \
    --with-cc-opt="${CC_OPT:-}" --with-ld-opt="${LD_OPT:-}" >configure.log \
    || { tail -30 configure.log; exit 1; }
