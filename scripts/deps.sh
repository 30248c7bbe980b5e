#!/bin/sh
# Installs the Debian 12 packages the project needs, and nothing when all of
# them are present already.  "deps.sh e2e": what the end-to-end checks
# need besides (node and npm, then the locked npm packages of t/e2e and
# t/e2e/usage).
set -eu

if [ "${1:-}" = e2e ]; then
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "deps: installing nodejs npm"
        if [ "$(id -u)" != 0 ]; then
            echo "deps: not root; install as root: apt-get install nodejs npm" >&2
            exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends nodejs npm
    fi

    for dir in t/e2e t/e2e/usage; do
        cd "$(dirname "$0")/../$dir"
        if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]
        then
            npm ci --no-audit --no-fund
        fi
        cd - >/dev/null
    done
    exit 0
fi

PKGS="gcc libc6-dev make perl procps openssl curl nginx-core nginx-dev
      libssl-dev libjansson-dev libjwt-dev libpcre2-dev libhiredis-dev
      zlib1g-dev redis-server libtest-base-perl libcrypt-jwt-perl
      libjson-pp-perl libnginx-mod-http-echo wrk"

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps: not root; install as root: apt-get install$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# nginx-core's maintainer script would start a system nginx on port 80;
# policy-rc.d keeps services from starting during the install.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
fi
apt-get install -y -q --no-install-recommends $missing
