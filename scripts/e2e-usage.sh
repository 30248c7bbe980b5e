#!/bin/sh
# The usage limits driven by OpenAI's official Node client (t/e2e/usage):
# starts a gateway (nginx with the module, two workers) whose stub model
# answers with a fixed usage, then t/e2e/usage/usage.mjs, which calls it
# through the client and checks every answer.  Always stops the gateway.
#
# Inputs: MODULE (the .so), NGINX_BIN.  Overridable: ZT_E2E_USAGE_PORT,
# default 1994.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)

: "${MODULE:?}" "${NGINX_BIN:=/usr/sbin/nginx}"

port=${ZT_E2E_USAGE_PORT:-1994}
run="$top/t/e2e/run-usage-$port"

rm -rf "$run"
mkdir -p "$run/conf" "$run/logs"

# each request of usage.mjs costs 15: 5 for "m1", "user" and "hello
# world!" (18 bytes), 10 for max_tokens; the model reports 12 + 5
answer='{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"stub","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"ok"}}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}'
chunk='{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"stub","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}],"usage":null}'
last='{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"stub","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}'

cat > "$run/conf/nginx.conf" <<EOF
load_module $MODULE;
load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;

worker_processes 2;
daemon off;
error_log logs/error.log info;
pid logs/nginx.pid;

events { worker_connections 256; }

http {
    client_body_temp_path $run/client_body_temp;
    proxy_temp_path $run/proxy_temp;
    fastcgi_temp_path $run/fastcgi_temp;
    uwsgi_temp_path $run/uwsgi_temp;
    scgi_temp_path $run/scgi_temp;

    log_format zt_audit escape=none '\$zt_audit';
    access_log logs/audit.log zt_audit if=\$zt_audit;

    zt_jwks_file $top/t/data/jwks.json;
    zt_issuer https://issuer.zt.test;
    zt_audience zt-gateway;

    server {
        listen 127.0.0.1:$port;

        # a second's window: the client's retry comes in the next one
        location = /second/v1/chat/completions {
            zt_policy allow scope=inference:invoke;
            zt_usage_limit zone=e2e_second:1m key=\$zt_sub tokens=40/s;
            proxy_pass http://127.0.0.1:$port/model/\$http_x_stub;
        }

        # a day's window of 4 requests, whatever the order they come in
        location = /day/v1/chat/completions {
            zt_policy allow scope=inference:invoke;
            zt_usage_limit zone=e2e_day:1m key=\$zt_sub tokens=60/d;
            proxy_pass http://127.0.0.1:$port/model/exact;
        }

        location = /model/json {
            default_type application/json;
            return 200 '$answer';
        }

        # reports exactly what was reserved: no settlement frees room
        location = /model/exact {
            default_type application/json;
            echo_sleep 0.2;
            echo -n '{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"stub","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"ok"}}],"usage":{"prompt_tokens":5,"completion_tokens":10,"total_tokens":15}}';
        }

        location = /model/sse {
            default_type text/event-stream;
            echo -n 'data: $chunk\n\n';
            echo_flush;
            echo -n 'data: $last\n\ndata: [DONE]\n\n';
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
    echo "e2e-usage: nginx did not start:" >&2
    cat "$run/logs/error.log" >&2
    exit 1
fi

cd "$top/t/e2e/usage" || exit 1

ZT_E2E_GATEWAY="http://127.0.0.1:$port" ZT_E2E_KEY="$top/t/data/rsa1.pem" \
ZT_E2E_AUDIT="$run/logs/audit.log" node usage.mjs
rc=$?

if [ $rc != 0 ]; then
    echo "e2e-usage: the gateway's log:" >&2
    grep -a ' zt: \|\[alert\]\|\[crit\]' "$run/logs/error.log" | tail -40 >&2
fi

exit $rc
