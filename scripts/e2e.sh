#!/bin/sh
# The end-to-end check (t/e2e): starts the gateway (nginx with the module)
# in a private prefix, then t/e2e/e2e.mjs, which runs a real OpenID
# provider (oidc-provider) on loopback, rotates its keys while calling the
# gateway, and checks every answer.  Always stops the gateway.
#
# Inputs: MODULE (the .so), NGINX_BIN.  Overridable: ZT_E2E_PORT (the
# gateway; the provider listens on the next port), default 1990.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)

: "${MODULE:?}" "${NGINX_BIN:=/usr/sbin/nginx}"

port=${ZT_E2E_PORT:-1990}
idp=$((port + 1))
refresh=3
min_refetch=1
run="$top/t/e2e/run-$port"

rm -rf "$run"
mkdir -p "$run/conf" "$run/logs"

cat > "$run/conf/nginx.conf" <<EOF
load_module $MODULE;
load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;

worker_processes 2;
daemon off;
error_log logs/error.log info;
pid logs/nginx.pid;

events { worker_connections 256; }

http {
    access_log off;
    client_body_temp_path $run/client_body_temp;
    proxy_temp_path $run/proxy_temp;
    fastcgi_temp_path $run/fastcgi_temp;
    uwsgi_temp_path $run/uwsgi_temp;
    scgi_temp_path $run/scgi_temp;

    zt_token_cache zone=zt_e2e_tokens:1m;

    server {
        listen 127.0.0.1:$port;

        location = /_zt_jwks {
            internal;
            proxy_pass \$zt_jwks_url;
            proxy_connect_timeout 2s;
            proxy_read_timeout 2s;
        }

        zt_oidc_issuer  http://127.0.0.1:$idp;
        zt_jwks_request /_zt_jwks refresh=${refresh}s min_refetch=${min_refetch}s;
        zt_audience     zt-gateway;

        location /v1/ {
            zt_policy allow scope=inference:invoke;
            echo "ok \$zt_sub \$zt_token_cache";
        }
    }
}
EOF

"$NGINX_BIN" -p "$run" -c conf/nginx.conf &
nginx_pid=$!
trap 'kill -QUIT $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null' EXIT INT TERM

for i in $(seq 50); do
    [ -s "$run/logs/nginx.pid" ] && break
    sleep 0.1
done

if ! kill -0 $nginx_pid 2>/dev/null; then
    echo "e2e: nginx did not start:" >&2
    cat "$run/logs/error.log" >&2
    exit 1
fi

cd "$top/t/e2e" || exit 1

ZT_E2E_GATEWAY="http://127.0.0.1:$port" ZT_E2E_IDP_PORT=$idp \
ZT_E2E_ERROR_LOG="$run/logs/error.log" ZT_E2E_REFRESH=$refresh \
ZT_E2E_MIN_REFETCH=$min_refetch node e2e.mjs
rc=$?

if [ $rc != 0 ]; then
    echo "e2e: the gateway's log:" >&2
    grep -a ' zt: \|\[alert\]\|\[crit\]' "$run/logs/error.log" | tail -40 >&2
fi

exit $rc
