#!/bin/bash
# make bench: what each feature costs next to a plain proxy_pass measured in
# the same round. Starts its own upstream and gateway nginx on loopback,
# drives them with wrk, alternating baseline and feature runs so that drift
# hits both, and prints (and writes to bench/results.md) one table.
#
# Each row also gets the instructions the gateway worker spends per request
# (valgrind's callgrind, on a second gateway with the same configuration):
# a count, not a time, so that a regression shows even on a noisy machine.
# And the requests served per second of the worker's own CPU time (user +
# system from /proc, during the wrk run), feature and baseline, and their
# ratio: on a machine shared with wrk, the upstream and others, what the
# worker itself spends varies far less than the wall clock.
#
# Environment: MODULE, NGINX_BIN, DURATION (s, default 5), CONNS (16),
# ROUNDS (3: each ratio printed is the median of the rounds' ratios),
# INSTR (1: count instructions, 0: skip), INSTR_REQUESTS (200),
# ONLY (a regex: run only the scenarios whose name matches).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
run="${BENCH_RUN:-$top/bench/run}"
NGINX_BIN="${NGINX_BIN:-/usr/sbin/nginx}"
DURATION="${DURATION:-5}"
CONNS="${CONNS:-16}"
ROUNDS="${ROUNDS:-3}"
INSTR="${INSTR:-1}"
INSTR_REQUESTS="${INSTR_REQUESTS:-200}"
ONLY="${ONLY:-}"
UP="${BENCH_PORT:-18100}"
GW=$((UP + 1))
CG=$((UP + 2))
: "${MODULE:?}"

# one benchmark at a time on this machine, or both measure each other
exec 9>/tmp/zt-bench.lock
flock 9

cg_pid=""

cleanup() {
    for d in up gw; do
        [ -f "$run/$d/nginx.pid" ] && \
            "$NGINX_BIN" -p "$run/$d/" -c nginx.conf -s stop 2>/dev/null
    done
    [ -n "$cg_pid" ] && kill "$cg_pid" 2>/dev/null && wait "$cg_pid" 2>/dev/null
    true
}
trap cleanup EXIT

mkdir -p "$run/up/html" "$run/gw" "$run/cg"
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
            return 200 '{"id":"cmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}],"usage":{"prompt_tokens":500,"completion_tokens":1,"total_tokens":501}}';
        }
        location = /sse {
            default_type text/event-stream;
            echo_duplicate 200 'data: {"choices":[{"index":0,"delta":{"content":"token "}}]}\n\n';
        }
        location / { }
    }
}
CONF

# a feature is benchmarked when this build of the module has its directive
has() {
    printf 'load_module %s;\nevents{}\nhttp{%s}\n' "$MODULE" "$1" \
        > "$run/probe.conf"
    "$NGINX_BIN" -p "$run/" -c probe.conf -t -q 2>/dev/null
}

cache_zone=""
has "zt_token_cache zone=z:1m;" && cache_zone="zt_token_cache zone=bench:16m;"

request_mask=off
has "server{location /{zt_mask_request \$.a;}}" && request_mask=on

usage=off
has "server{location /{zt_usage_limit zone=u key=\$zt_sub tokens=1000/m;}}" \
    && usage=on

extra_locations=""
if [ $request_mask = on ]; then
    extra_locations="$extra_locations
        location = /mask-request {
            zt_policy allow scope=bench;
            zt_mask_request_pattern email;
            zt_mask_request_pattern credit_card;
            proxy_pass http://up/small;
        }"
fi
if [ $usage = on ]; then
    extra_locations="$extra_locations
        location = /usage {
            zt_policy allow scope=bench;
            zt_usage_limit zone=bench_usage key=\$zt_sub tokens=1000000000/m;
            zt_usage_limit_store shm;
            proxy_pass http://up/small;
        }"
fi

# the gateway's configuration: PORT, then lines for the main context
gateway_conf() {
    cat <<CONF
load_module $MODULE;
$2
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
        listen 127.0.0.1:$1;
        zt_jwks_file $run/jwks.json;
        zt_algorithms RS256 ES256;
        location = /plain        { proxy_pass http://up/small; }
        location = /plain4k      { proxy_pass http://up/json4k.json; }
        location = /plain1m      { proxy_pass http://up/json1m.json; }
        location = /plain-sse    { proxy_buffering off; proxy_pass http://up/sse; }
        location = /rs-audit {
            zt_policy allow scope=bench;
            access_log audit.log zt_audit buffer=64k flush=1s;
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
            access_log audit-body.log zt_audit buffer=64k flush=1s;
            proxy_pass http://up/small;
        }
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
        }
        $extra_locations
    }
}
CONF
}

gateway_conf "$GW" "" > "$run/gw/nginx.conf"

"$NGINX_BIN" -p "$run/up/" -c nginx.conf
"$NGINX_BIN" -p "$run/gw/" -c nginx.conf

wait_port() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/plain" && return 0
        sleep 0.1
    done
    echo "bench: nothing answers on port $1" >&2
    return 1
}

wait_port "$GW"

# the gateway worker's CPU time so far (user + system), in clock ticks
worker_ticks() {
    local pid
    pid=$(ps -o pid= --ppid "$(cat "$run/gw/nginx.pid")" | head -n1)
    # the fields after the command's ")": utime and stime are 12th and 13th
    sed 's/.*) //' "/proc/${pid// /}/stat" | awk '{ print $12 + $13 }'
}
hz=$(getconf CLK_TCK)

# one wrk run: prints "rps p50_ms p99_ms non2xx requests worker_cpu_s"
bench_one() {
    local path=$1 tokens=$2 body=$3 out t0 t1
    t0=$(worker_ticks)
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
    t1=$(worker_ticks)
    echo "$out" | awk -v cpu="$(( t1 - t0 ))" -v hz="$hz" '
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
        / requests in / { n = $1 }
        END { printf "%d %.2f %.2f %s %d %.2f\n", rps, p50, p99,
                     bad ? bad : 0, n, cpu / hz }'
}

worker_rss() {
    ps -o rss= --ppid "$(cat "$run/gw/nginx.pid")" | awk '{ s += $1 } END { print s }'
}

median() {
    tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# name | path | tokens | body | baseline path
scenarios=(
    "plain proxy|/plain|||/plain"
    "RS256 + policy + audit, same token${cache_zone:+ (cached)}|/rs-audit|$run/rs-one.txt||/plain"
    "RS256, every token verified (no cache)|/jwt|$run/rs-pool.txt||/plain"
    "ES256, every token verified (no cache)|/jwt|$run/es-pool.txt||/plain"
    "+ body rule, 2 KiB JSON|/body|$run/rs-one.txt|$run/body2k.json|/plain"
    "+ audit log with body|/audit-body|$run/rs-one.txt|$run/body2k.json|/plain"
    "masking, 4 KiB JSON|/mask4k|$run/rs-one.txt||/plain4k"
    "masking, 1 MiB JSON|/mask1m|$run/rs-one.txt||/plain1m"
)
[ $request_mask = on ] && scenarios+=(
    "request masking, 4 KiB chat request|/mask-request|$run/rs-one.txt|$run/chat4k.json|/plain"
)
[ $usage = on ] && scenarios+=(
    "usage limit, shm store|/usage|$run/rs-one.txt|$run/body2k.json|/plain"
)

if [ -n "$ONLY" ]; then
    kept=()
    for s in "${scenarios[@]}"; do
        [[ "${s%%|*}" =~ $ONLY ]] && kept+=("$s")
    done
    scenarios=("${kept[@]}")
fi

declare -A ratios rps base p50 p99 rss bad cpurate bcpurate cpuratio
for round in $(seq "$ROUNDS"); do
    for s in "${scenarios[@]}"; do
        IFS='|' read -r name path tokens body bpath <<<"$s"
        # the baseline gets the very same requests: only the location differs
        read -r brps _ _ _ bn bcpu \
            <<<"$(bench_one "$bpath" "$tokens" "$body")"
        read -r frps fp50 fp99 fbad fn fcpu \
            <<<"$(bench_one "$path" "$tokens" "$body")"
        # requests a second of the worker's own CPU time (user + system)
        cpurate[$name]="${cpurate[$name]:-} $(awk -v n="$fn" -v c="$fcpu" \
                                              'BEGIN { printf "%d", (c > 0) ? n / c : 0 }')"
        bcpurate[$name]="${bcpurate[$name]:-} $(awk -v n="$bn" -v c="$bcpu" \
                                                'BEGIN { printf "%d", (c > 0) ? n / c : 0 }')"
        # what a request costs the worker, next to the baseline's: the
        # ratio the other processes on the machine disturb least
        cpuratio[$name]="${cpuratio[$name]:-} $(awk -v fn="$fn" -v fc="$fcpu" \
            -v bn="$bn" -v bc="$bcpu" 'BEGIN {
                printf "%.4f", (fc > 0 && bn > 0) ? (fn / fc) / (bn / bc) : 0 }')"
        ratios[$name]="${ratios[$name]:-} $(awk -v f="$frps" -v b="$brps" \
                                            'BEGIN { printf "%.4f", b ? f / b : 0 }')"
        rps[$name]="${rps[$name]:-} $frps"
        base[$name]="${base[$name]:-} $brps"
        p50[$name]=$fp50; p99[$name]=$fp99
        bad[$name]=$(( ${bad[$name]:-0} + fbad ))
        rss[$name]="${rss[$name]:-}$(worker_rss) "
    done
done

# SSE: time to first byte and total, curl against plain and masked
sse() {
    local path=$1 tok
    tok=$(head -n1 "$run/rs-one.txt")
    for _ in $(seq 41); do
        curl -s -o /dev/null -H "Authorization: Bearer $tok" \
            -w '%{time_starttransfer} %{time_total}\n' \
            "http://127.0.0.1:$GW$path"
    done | awk '{ print $1 * 1000, $2 * 1000 }'
}
sse_line=""
if [ -z "$ONLY" ] || [[ "SSE" =~ $ONLY ]]; then
    sse /plain-sse > "$run/sse-plain.txt"
    sse /sse-masked > "$run/sse-masked.txt"
    pt=$(cut -d' ' -f1 "$run/sse-plain.txt" | median)
    mt=$(cut -d' ' -f1 "$run/sse-masked.txt" | median)
    pa=$(cut -d' ' -f2 "$run/sse-plain.txt" | median)
    ma=$(cut -d' ' -f2 "$run/sse-masked.txt" | median)
    sse_line=$(awk -v pt="$pt" -v mt="$mt" -v pa="$pa" -v ma="$ma" 'BEGIN {
        printf "| SSE 200 events, masked (median of 41) | TTFB %.3f ms vs %.3f ms (+%.3f ms) | total %.3f ms vs %.3f ms | | | | | |",
               mt, pt, mt - pt, ma, pa }')
fi

# instructions per request: the same configuration under callgrind, one
# process, counters zeroed after a warm-up and dumped after N requests
declare -A instr
instr_count() {
    local path=$1 tokens=$2 body=$3 cfg="$run/cg/requests.cfg" i=0 tok
    : > "$cfg"
    while [ $i -lt $((INSTR_REQUESTS + 5)) ]; do
        {
            echo "url = \"http://127.0.0.1:$CG$path\""
            echo "output = /dev/null"
            if [ -n "$tokens" ]; then
                tok=$(sed -n "$(( i % $(wc -l < "$tokens") + 1 ))p" "$tokens")
                echo "header = \"Authorization: Bearer $tok\""
            fi
            if [ -n "$body" ]; then
                echo "header = \"Content-Type: application/json\""
                echo "data-binary = \"@$body\""
            fi
            echo "next"
        } >> "$cfg"
        i=$((i + 1))
        if [ $i -eq 5 ]; then
            curl -s -K "$cfg" >/dev/null 2>&1 || true
            callgrind_control -z "$cg_pid" >/dev/null
            : > "$cfg"
        fi
    done
    curl -s -K "$cfg" >/dev/null 2>&1 || true
    callgrind_control -d "$cg_pid" >/dev/null
    local dump
    dump=$(ls -t "$run"/cg/callgrind.out.* | head -n1)
    awk -v n="$INSTR_REQUESTS" '/^summary:/ { printf "%d", $2 / n }' "$dump"
}

if [ "$INSTR" = 1 ] && command -v valgrind >/dev/null; then
    gateway_conf "$CG" "daemon off; master_process off;" > "$run/cg/nginx.conf"
    rm -f "$run"/cg/callgrind.out.*
    valgrind --tool=callgrind --callgrind-out-file="$run/cg/callgrind.out.%p" \
        "$NGINX_BIN" -p "$run/cg/" -c nginx.conf > "$run/cg/valgrind.log" 2>&1 &
    cg_pid=$!
    wait_port "$CG"
    for s in "${scenarios[@]}"; do
        IFS='|' read -r name path tokens body bpath <<<"$s"
        # keyed by all a request is made of: /jwt serves RS256 and ES256
        [ -n "${instr[$bpath|$tokens|$body]:-}" ] || \
            instr[$bpath|$tokens|$body]=$(instr_count "$bpath" "$tokens" "$body")
        instr[$path|$tokens|$body]=$(instr_count "$path" "$tokens" "$body")
    done
    kill "$cg_pid"; wait "$cg_pid" 2>/dev/null || true; cg_pid=""
fi

# the bound that OpenSSL's own verify speed sets for distinct tokens
rsa_v=$(openssl speed -seconds 2 rsa2048 2>/dev/null \
        | awk '/^rsa 2048/ { print $7 }')
ec_v=$(openssl speed -seconds 2 ecdsap256 2>/dev/null \
       | awk '/nistp256\)/ { print $NF }')

{
    echo "Benchmark $(date -u '+%Y-%m-%d %H:%M UTC'): wrk -t1 -c$CONNS -d${DURATION}s,"
    echo "$ROUNDS rounds, gateway 1 worker, loopback; ratio = feature / plain proxy"
    echo "of the same round, median of the rounds; instructions per request of the"
    echo "gateway worker under callgrind ($INSTR_REQUESTS requests), feature vs baseline."
    echo
    echo "| scenario | req/s | ratio | ratios per round | p50 ms | p99 ms | instr/req (baseline) | req per worker CPU-s (baseline), ratio | worker RSS KiB per round | non-2xx |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for s in "${scenarios[@]}"; do
        IFS='|' read -r name path tokens body bpath <<<"$s"
        r=$(echo "${rps[$name]}" | median)
        m=$(echo "${ratios[$name]}" | median)
        c=$(echo "${cpurate[$name]}" | median)
        cb=$(echo "${bcpurate[$name]}" | median)
        cr=$(echo "${cpuratio[$name]}" | median)
        awk -v n="$name" -v r="$r" -v m="$m" -v all="${ratios[$name]}" \
            -v c="$c" -v cb="$cb" -v cr="$cr" \
            -v p5="${p50[$name]}" -v p9="${p99[$name]}" \
            -v i="${instr[$path|$tokens|$body]:--}" \
            -v ib="${instr[$bpath|$tokens|$body]:--}" \
            -v s="${rss[$name]}" -v x="${bad[$name]}" \
            'BEGIN { printf "| %s | %d | %.2fx | %s | %s | %s | %s (%s) | %d (%d), %.2fx | %s| %s |\n",
                     n, r, m, all, p5, p9, i, ib, c, cb, cr, s, x }'
    done
    [ -n "$sse_line" ] && echo "$sse_line"
    echo
    name="masking, 1 MiB JSON"
    if [ -n "${rps[$name]:-}" ]; then
        size=$(stat -c %s "$run/up/html/json1m.json")
        awk -v r="$(echo "${rps[$name]}" | median)" \
            -v c="$(echo "${cpurate[$name]}" | median)" -v s="$size" 'BEGIN {
            printf "Masking 1 MiB: %.0f MB/s of the gateway worker'"'"'s own CPU time (user + system, from /proc), %.0f MB/s wall clock on this shared machine.\n",
                   c * s / 1e6, r * s / 1e6 }'
    fi
    for pair in "RS256|$rsa_v|rs-pool" "ES256|$ec_v|es-pool"; do
        IFS='|' read -r alg v pool <<<"$pair"
        name="$alg, every token verified (no cache)"
        [ -n "$v" ] && [ -n "${rps[$name]:-}" ] || continue
        b=$(echo "${base[$name]}" | median)
        f=$(echo "${rps[$name]}" | median)
        awk -v a="$alg" -v v="$v" -v b="$b" -v f="$f" 'BEGIN {
            bound = 1 / (1 / b + 1 / v)
            printf "%s: OpenSSL verifies %d/s here; with the plain proxy at %d req/s the bound is %d req/s; measured %d req/s = %.2f of the bound.\n",
                   a, v, b, bound, f, f / bound }'
    done
} | tee "$top/bench/results.md"
