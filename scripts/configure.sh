#!/bin/bash
# Configures an nginx source tree for building only the dynamic module:
# Debian's /usr/share/nginx/src with the exact flags Debian's binary was
# built with (so the module's signature matches), or $NGINX_SRC with
# --with-compat.
set -eu

: "${BUILD_DIR:?}" "${MODULE_DIR:?}"

if [ -n "${NGINX_SRC:-}" ]; then
    cp -a "$NGINX_SRC" "$BUILD_DIR"
    flags=(--with-compat --with-threads)
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
