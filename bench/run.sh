#!/bin/bash
# make bench: what each feature costs next to a plain proxy_pass measured in
# the same round. Starts its own upstream and gateway nginx on loopback,
# drives them with wrk, alternating baseline and feature runs so that drift
# hits both, and prints (and writes to bench/results.md) one table.
#
# Environment: MODULE, NGINX_BIN, DURATION (s, default 5), CONNS (16),
# ROUNDS (2).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
run="${BENCH_RUN:-$top/bench/run}"
NGINX_BIN="${NGINX_BIN:-/usr/sbin/nginx}"
DURATION="${DURATION:-5}"
CONNS="${CONNS:-16}"
ROUNDS="${ROUNDS:-2}"
UP="${BENCH_PORT:-18100}"
GW=$((UP + 1))
: "${MODULE:?}"

# one benchmark at a time on this machine, or both measure each other
exec 9>/tmp/zt-bench.lock
flock 9

cleanup() {
    for d in up gw; do
        [ -f "$run/$d/nginx.pid" ] && \
            "$NGINX_BIN" -p "$run/$d/" -c nginx.conf -s stop 2>/dev/null
    done
    true
}
trap cleanup EXIT

mkdir -p "$run/up/html" "$run/gw"
cleanup

# keys, JWKS and token pools, minted by Perl's Crypt::JWT
perl "$top/bench/fixtures.pl" "$run"

cat > "$run/up/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path /tmp;
    server {
        listen 127.0.0.1:$UP;
        default_type application/json;
        root html;
        location = /small {
            return 200 '{"id":"cmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}]}';
        }
        location = /sse {
            default_type text/event-stream;
            echo_duplicate 200 'data: {"choices":[{"index":0,"delta":{"content":"token "}}]}\n\n';
        }
        location / { }
    }
}
CONF

masking=off
if "$NGINX_BIN" -V 2>&1 | grep -q . && \
   printf 'load_module %s;\nevents{}\nhttp{server{location /{zt_mask $.a;}}}\n' \
       "$MODULE" > "$run/probe.conf" && \
   "$NGINX_BIN" -p "$run/" -c probe.conf -t -q 2>/dev/null; then
    masking=on
fi

cache=""
cache_zone=""
if printf 'load_module %s;\nevents{}\nhttp{zt_token_cache zone=z:1m;}\n' \
       "$MODULE" > "$run/probe.conf" && \
   "$NGINX_BIN" -p "$run/" -c probe.conf -t -q 2>/dev/null; then
    cache_zone="zt_token_cache zone=bench:16m;"
    cache="on"
fi

mask_locations=""
if [ $masking = on ]; then
    mask_locations="
        location = /mask4k {
            zt_policy allow scope=bench;
            zt_mask \$..email;
            zt_mask_pattern credit_card;
            zt_mask_buffer 1m;
            proxy_pass http://up/json4k.json;
        }
        location = /mask1m {
            zt_policy allow scope=bench;
            zt_mask \$..email;
            zt_mask_pattern credit_card;
            zt_mask_buffer 1m;
            proxy_pass http://up/json1m.json;
        }
        location = /sse-masked {
            zt_policy allow scope=bench;
            zt_mask_pattern credit_card;
            proxy_buffering off;
            proxy_pass http://up/sse;
        }"
fi

cat > "$run/gw/nginx.conf" <<CONF
load_module $MODULE;
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path /tmp;
    log_format zt_audit escape=none '\$zt_audit';
    upstream up { server 127.0.0.1:$UP; keepalive 32; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    $cache_zone
    server {
        listen 127.0.0.1:$GW;
        zt_jwks_file $run/jwks.json;
        zt_algorithms RS256 ES256;
        location = /plain        { proxy_pass http://up/small; }
        location = /plain4k      { proxy_pass http://up/json4k.json; }
        location = /plain1m      { proxy_pass http://up/json1m.json; }
        location = /plain-sse    { proxy_buffering off; proxy_pass http://up/sse; }
        location = /rs-audit {
            zt_policy allow scope=bench;
            access_log $run/gw/audit.log zt_audit buffer=64k flush=1s;
            proxy_pass http://up/small;
        }
        location = /jwt {
            # every token verified: the pool repeats, the cache would hide it
            zt_token_cache off;
            zt_policy allow scope=bench;
            proxy_pass http://up/small;
        }
        location = /body {
            zt_policy deny body~* "drop\\s+table";
            zt_policy allow scope=bench json:\$.model~^llama-8b;
            proxy_pass http://up/small;
        }
        location = /audit-body {
            zt_policy allow scope=bench;
            zt_audit_body on;
            access_log $run/gw/audit-body.log zt_audit buffer=64k flush=1s;
            proxy_pass http://up/small;
        }
        $mask_locations
    }
}
CONF

"$NGINX_BIN" -p "$run/up/" -c nginx.conf
"$NGINX_BIN" -p "$run/gw/" -c nginx.conf

for i in $(seq 50); do
    curl -fs "http://127.0.0.1:$GW/plain" >/dev/null && break
    sleep 0.1
done

# one wrk run: prints "rps p50_ms p99_ms"
bench_one() {
    local path=$1 tokens=$2 body=$3 out
    if [ -z "$body" ] && [ "$(wc -l < "${tokens:-/dev/null}")" -le 1 ]; then
        # one token or none: a fixed header, no Lua in wrk's way
        local auth=()
        [ -n "$tokens" ] && auth=(-H "Authorization: Bearer $(cat "$tokens")")
        out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${auth[@]}" \
              "http://127.0.0.1:$GW$path")
    else
        out=$(TOKENS="$tokens" BODY="$body" wrk -t1 -c"$CONNS" \
              -d"${DURATION}s" --latency -s "$top/bench/tokens.lua" \
              "http://127.0.0.1:$GW$path")
    fi
    echo "$out" | awk '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v
        }
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx/ { bad = $NF }
        END { printf "%d %.2f %.2f %s\n", rps, p50, p99, bad ? bad : 0 }'
}

worker_rss() {
    ps -o rss= --ppid "$(cat "$run/gw/nginx.pid")" | awk '{ s += $1 } END { print s }'
}

# name | path | tokens | body | baseline path
scenarios=(
    "plain proxy|/plain|||/plain"
    "RS256 + policy + audit, same token${cache:+ (cached)}|/rs-audit|$run/rs-one.txt||/plain"
    "RS256, every token verified (no cache)|/jwt|$run/rs-pool.txt||/plain"
    "ES256, every token verified (no cache)|/jwt|$run/es-pool.txt||/plain"
    "+ body rule, 2 KiB JSON|/body|$run/rs-one.txt|$run/body2k.json|/plain"
    "+ audit log with body|/audit-body|$run/rs-one.txt|$run/body2k.json|/plain"
)
if [ $masking = on ]; then
    scenarios+=(
        "masking, 4 KiB JSON|/mask4k|$run/rs-one.txt||/plain4k"
        "masking, 1 MiB JSON|/mask1m|$run/rs-one.txt||/plain1m"
    )
fi

declare -A sum_rps sum_base p50 p99 rss bad
for round in $(seq "$ROUNDS"); do
    for s in "${scenarios[@]}"; do
        IFS='|' read -r name path tokens body base <<<"$s"
        # the baseline gets the very same requests: only the location differs
        read -r brps _ _ _ <<<"$(bench_one "$base" "$tokens" "$body")"
        read -r frps fp50 fp99 fbad <<<"$(bench_one "$path" "$tokens" "$body")"
        sum_base[$name]=$(( ${sum_base[$name]:-0} + brps ))
        sum_rps[$name]=$(( ${sum_rps[$name]:-0} + frps ))
        p50[$name]=$fp50; p99[$name]=$fp99; bad[$name]=$fbad
        rss[$name]="${rss[$name]:-}$(worker_rss) "
    done
done

# SSE: time to first byte and total, curl against plain and masked
sse_line=""
if [ $masking = on ]; then
    sse() {
        local path=$1 tok
        tok=$(head -n1 "$run/rs-one.txt")
        for i in $(seq 20); do
            curl -s -o /dev/null -H "Authorization: Bearer $tok" \
                -w '%{time_starttransfer} %{time_total}\n' \
                "http://127.0.0.1:$GW$path"
        done | sort -n | awk '{ t[NR] = $1; a[NR] = $2 }
            END { printf "%.3f %.3f", t[int(NR/2)+1] * 1000, a[int(NR/2)+1] * 1000 }'
    }
    read -r pt pa <<<"$(sse /plain-sse)"
    read -r mt ma <<<"$(sse /sse-masked)"
    sse_line="| SSE 200 events, masked (median of 20) | TTFB ${mt} ms vs ${pt} ms | total ${ma} ms vs ${pa} ms | | | |"
fi

rsa_us=$(openssl speed -seconds 2 rsa2048 2>/dev/null | awk '/^rsa 2048/ { print $7 }')

{
    echo "Benchmark $(date -u '+%Y-%m-%d %H:%M UTC'): wrk -t1 -c$CONNS -d${DURATION}s,"
    echo "$ROUNDS rounds, gateway 1 worker, loopback; ratio = feature / plain proxy of the same round."
    echo
    echo "| scenario | req/s | ratio | p50 ms | p99 ms | worker RSS KiB per round | non-2xx |"
    echo "|---|---|---|---|---|---|---|"
    for s in "${scenarios[@]}"; do
        IFS='|' read -r name _ _ _ _ <<<"$s"
        awk -v n="$name" -v r="${sum_rps[$name]}" -v b="${sum_base[$name]}" \
            -v k="$ROUNDS" -v p5="${p50[$name]}" -v p9="${p99[$name]}" \
            -v m="${rss[$name]}" -v x="${bad[$name]}" \
            'BEGIN { printf "| %s | %d | %.2fx | %s | %s | %s| %s |\n",
                     n, r / k, b ? r / b : 0, p5, p9, m, x }'
    done
    [ -n "$sse_line" ] && echo "$sse_line"
    if [ -n "$rsa_us" ]; then
        echo
        echo "RSA-2048 verifies/s on this machine (openssl speed): $rsa_us;"
        echo "bound for distinct RS256 tokens = 1 / (1/plain + 1/verify)."
    fi
} | tee "$top/bench/results.md"
