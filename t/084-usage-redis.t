# Usage limits in Redis: the same reservation and settlement as the shm
# store, the reviewer API over both stores (GET and DELETE <loc>/usage/KEY),
# and failures: Redis stopped (503, Retry-After), paused past the deadline
# (503, and the late script changes nothing), gone between the reservation
# and the settlement (the reservation stays charged, and the log says so),
# answering an error (503).  Two gateways share one budget.
#
# The blocks run in order and some stop or pause the file's own Redis
# (ZT::Redis), which is stopped however the file ends.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Usage;
use ZT::Redis;
use ZT::Nginx;
use JSON::PP ();
use Time::HiRes ();
use POSIX ();

no_shuffle();
repeat_each(1);

our $Alice = ZT::Token::mint(
    claims => { sub => 'alice', scope => 'inference:invoke' }, exp_in => 3600);
our $Rita = ZT::Token::mint(
    claims => { sub => 'rita', scope => 'zt:review' }, exp_in => 3600);

our $B15 = '{"model":"m1","messages":[{"role":"user","content":"hello world!"}],"max_tokens":10}';

$ENV{TEST_NGINX_ZT_SECOND_PORT} = ZT::Nginx::free_port();
$ENV{TEST_NGINX_ZT_MODEL_OK} = ZT::Usage::nginx_quote(ZT::Usage::answer(in => 12, out => 5));
$ENV{TEST_NGINX_ZT_MODEL_SMALL} = ZT::Usage::nginx_quote(ZT::Usage::answer(in => 1, out => 4));

# the gateway; --- prefix keeps each block's budgets apart
our $Conf = <<'_EOC_';
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;

    location = /v1/chat {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=r key=$zt_sub tokens=100/d tokens=50/h;
        zt_usage_limit_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
    }

    location = /v1/small {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=r key=$zt_sub tokens=100/d tokens=50/h;
        zt_usage_limit_store redis;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/slow-small;
    }

    location = /v1/local {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=l:64k key=$zt_sub tokens=1000/m;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
    }

    location = /v1/free {
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
    }

    location /zt/ {
        zt_policy allow scope=zt:review;
        zt_approval_api;
    }

    location = /model/ok {
        default_type application/json;
        return 200 $TEST_NGINX_ZT_MODEL_OK;
    }

    location = /model/slow-small {
        default_type application/json;
        echo_sleep 0.8;
        echo -n $TEST_NGINX_ZT_MODEL_SMALL;
    }

    location /second/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_ZT_SECOND_PORT/;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    my $prefix = $block->prefix // 'zt084:';
    $block->set_value('http_config', <<"_EOC_") unless defined $block->http_config;
    zt_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT prefix=$prefix timeout=300ms;
_EOC_
});

# --- usage_json: the API's answer, the durations and times checked for
# their form and dropped
add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;
    my $spec = $block->usage_json or return;
    my ($at, $want) = @$spec;
    return unless $req_idx == $at;
    my $got = eval { JSON::PP->new->decode($body) };
    ok($got, $block->name . " - the API answers JSON") or return diag($body);
    for my $z (@{ $got->{usage}{zones} || [] }) {
        for my $w (@{ $z->{windows} || [] }) {
            like(delete $w->{reset}, qr/^((\d+h)?(\d+m)?\d+(\.\d+)?s|\d+ms)$/,
                 $block->name . " - reset is a duration");
            my $at = delete $w->{reset_at};
            ok($at > time - 5 && $at <= time + 86400,
               $block->name . " - reset_at is a time to come");
        }
    }
    is_deeply($got, $want, $block->name . " - the API's budgets") or diag($body);
});

# "--- capture_id" keeps the approval id of a 202, "%%id%%" puts it into
# the requests that follow
our $Id = 'none';

add_response_body_check(sub {
    my ($block, $body) = @_;
    $Id = $1 if $body =~ /"id":"([0-9a-f]{32})","status":"pending"/;
});

add_block_preprocessor(sub {
    my $block = shift;
    for my $section (qw(request more_headers)) {
        my $v = $block->$section;
        next unless defined $v;
        my @v = map { (my $x = $_) =~ s/%%id%%/$Id/g; $x }
                ref $v eq 'ARRAY' ? @$v : ($v);
        $block->set_value($section, ref $v eq 'ARRAY' ? \@v : $v[0]);
    }
});

# --- audit_events: [index of the /audit request, [[status, event, usage,
# decision]]]: the audit lines in order (decision checked when given)
add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;
    my $spec = $block->audit_events or return;
    my ($at, $want) = @$spec;
    return unless $req_idx == $at;
    my @lines = map { JSON::PP->new->decode($_) } grep { length } split /\n/, $body;
    is(scalar @lines, scalar @$want, $block->name . " - audit lines")
        or diag($body);
    for my $i (0 .. $#$want) {
        my ($status, $event, $usage, $decision) = @{ $want->[$i] };
        my $l = $lines[$i] || {};
        is($l->{status}, $status, $block->name . " - line $i status");
        is($l->{event}, $event, $block->name . " - line $i event");
        is_deeply($l->{usage}, $usage, $block->name . " - line $i usage");
        is($l->{decision}, $decision, $block->name . " - line $i decision")
            if defined $decision;
    }
});

# the second gateway, sharing the first one's Redis prefix and stub model
sub second_start {
    my ($prefix) = @_;
    my $port = $ENV{TEST_NGINX_ZT_SECOND_PORT};
    my $first = server_port();
    ZT::Nginx::start('usage', $port, <<"_EOC_");
    zt_redis 127.0.0.1:@{[ ZT::Redis::port() ]} prefix=$prefix;
    zt_jwks_file $ENV{TEST_NGINX_DATA_DIR}/jwks.json;
    server {
        listen 127.0.0.1:$port;
        location = /v1/chat {
            zt_policy allow scope=inference:invoke;
            zt_usage_limit zone=r key=\$zt_sub tokens=60/d;
            zt_usage_limit_store redis;
            proxy_pass http://127.0.0.1:$first/model/ok;
        }
        location /zt/ {
            zt_policy allow scope=zt:review;
            zt_approval_api;
        }
    }
_EOC_
}

# stops Redis after $delay seconds, from a process of its own; Redis
# removes its pid file as it goes, ZT::Redis::start() brings it back
sub stop_redis_in {
    my ($delay) = @_;
    my $redis = ZT::Redis::pid() or die "no redis-server to stop\n";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    return if $pid;
    Time::HiRes::sleep($delay);
    kill 'TERM', $redis;
    POSIX::_exit(0);
}

# one command, as redis-cli --raw prints its reply
sub redis_cli {
    open my $fh, '-|', 'redis-cli', '--raw', '-p', ZT::Redis::port(), @_
        or die "cannot run redis-cli: $!\n";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\s+\z//;
    return $out;
}

ZT::Redis::start();

run_tests();

__DATA__

=== TEST 1: Redis store: the reservation and the settlement, as in shared memory (85, then 100 - 17 - 15)
--- prefix: zt084a:
--- config eval
$::Conf
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Alice"]
--- error_code eval
[200, 200]
--- response_headers_like eval
["x-ratelimit-limit-tokens: 50\nx-ratelimit-remaining-tokens: 35\nx-ratelimit-reset-tokens: (\\d+m)?\\d+(\\.\\d+)?s",
 "x-ratelimit-limit-tokens: 50\nx-ratelimit-remaining-tokens: 18"]



=== TEST 2: the reviewer API reads a key's windows in Redis: limit, used, remaining, reset
--- request
GET /zt/usage/alice
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- usage_json eval
[0, { usage => { key => "alice", zones => [
    { zone => "r", store => "redis", windows => [
        { period => "h", limit => 50, used => 34, remaining => 16 },
        { period => "d", limit => 100, used => 34, remaining => 66 } ] },
    { zone => "l", store => "shm", windows => [] } ] } }]



=== TEST 3: Redis holds one hash per window, which expires when the window ends
--- request
GET /zt/usage/alice
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like chomp
"used":34
--- init
my $ttl = main::redis_cli('PTTL', 'zt084a:usage:r:alice:h');
Test::More::ok($ttl > 0 && $ttl <= 3600_000, "the hour window expires within the hour ($ttl ms)");
my $h = main::redis_cli('HGET', 'zt084a:usage:r:alice:d', 'used');
Test::More::is($h, 34, "the day window's hash holds what was used");



=== TEST 4: the shm store through the same API, next to Redis
--- request eval
["POST /v1/local\n$::B15", "GET /zt/usage/alice"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Rita"]
--- error_code eval
[200, 200]
--- usage_json eval
[1, { usage => { key => "alice", zones => [
    { zone => "r", store => "redis", windows => [
        { period => "h", limit => 50, used => 34, remaining => 16 },
        { period => "d", limit => 100, used => 34, remaining => 66 } ] },
    { zone => "l", store => "shm", windows => [
        { period => "m", limit => 1000, used => 17, remaining => 983 } ] } ] } }]



=== TEST 5: DELETE resets a key in every zone; the next request has the whole budget
--- request eval
["DELETE /zt/usage/alice", "GET /zt/usage/alice", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Rita", "Authorization: Bearer $::Rita", "Authorization: Bearer $::Alice"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
['^\{"usage":\{"key":"alice","zones":\[\{"zone":"r","store":"redis","windows":\[\]\},\{"zone":"l","store":"shm","windows":\[\]\}\]\}\}$', '"windows":\[\]', '.*']
--- response_headers eval
["", "", "x-ratelimit-remaining-tokens: 35"]



=== TEST 6: ... and the error log names who reset it
--- request
DELETE /zt/usage/alice
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- error_log
zt: usage of key "alice" reset by "rita"



=== TEST 7: only the API location's own policy lets a caller see or reset budgets
--- request eval
["GET /zt/usage/alice", "DELETE /zt/usage/alice", "POST /zt/usage/alice", "GET /zt/usage/"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Alice", "Authorization: Bearer $::Rita", "Authorization: Bearer $::Rita"]
--- error_code eval
[403, 403, 405, 404]



=== TEST 8: a key with a "/" is named by ?key=; %2F in the path is a "/" to the router, so no route
--- config eval
$::Conf =~ s/key=\$zt_sub tokens=100\/d tokens=50\/h;/key=\$http_x_user tokens=100\/d tokens=50\/h;/r
--- prefix: zt084b:
--- request eval
["POST /v1/chat\n$::B15", "GET /zt/usage?key=team%2Fa", "GET /zt/usage/team%2Fa"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-User: team/a", "Authorization: Bearer $::Rita", "Authorization: Bearer $::Rita"]
--- error_code eval
[200, 200, 404]
--- response_body_like eval
['.*', '^\{"usage":\{"key":"team/a","zones":\[\{"zone":"r","store":"redis","windows":\[\{"period":"h","limit":50,"used":17,', '"code":"not_found"']



=== TEST 9: Redis stopped ...
--- prefix: zt084c:
--- config eval
$::Conf
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 200
--- response_headers
x-ratelimit-remaining-tokens: 35



=== TEST 10: ... 503 with Retry-After for a limited location, never an unlimited pass; unlimited locations are served
--- init
ZT::Redis::stop();
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /v1/free\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Alice", "Authorization: Bearer $::Alice"]
--- error_code eval
[503, 503, 200]
--- response_headers_like eval
["Retry-After: \\d+\nCache-Control: no-store", "Retry-After: \\d+", ""]
--- response_body eval
['{"error":{"type":"service_unavailable","code":"usage_store_unavailable","message":"the usage store is unavailable, retry later"}}' . "\n",
 '{"error":{"type":"service_unavailable","code":"usage_store_unavailable","message":"the usage store is unavailable, retry later"}}' . "\n",
 ZT::Usage::answer(in => 12, out => 5)]



=== TEST 11: ... while it is down, requests do not wait for it
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 503
--- error_log
zt: redis unavailable, next attempt in



=== TEST 11b: Redis back: served again, with what Redis kept (50 - 17 - 15)
--- init
ZT::Redis::start();
Time::HiRes::sleep(2.1);
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 200
--- response_headers
x-ratelimit-remaining-tokens: 18



=== TEST 12: Redis paused past the deadline: 503 after the timeout ...
--- prefix: zt084d:
--- config eval
$::Conf
--- init
ZT::Redis::pause();
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 503
--- response_body_like chomp
"code":"usage_store_unavailable"
--- error_log
did not answer within 300 ms



=== TEST 13: ... and the script Redis runs late reserves nothing: the budget is whole
--- init
Time::HiRes::sleep(1.6);
ZT::Redis::resume();
Time::HiRes::sleep(2.1);
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 200
--- response_headers
x-ratelimit-remaining-tokens: 35



=== TEST 14: Redis gone between the reservation and the settlement: served, the error log says the reservation stays charged
--- prefix: zt084e:
--- config eval
$::Conf
--- init
main::stop_redis_in(0.3);
--- request eval
"POST /v1/small\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 200
--- error_log eval
qr/zt: usage: settlement of "alice" in zone "r" (failed in|not sent to) Redis, the reservation stays charged/
--- wait: 0.5



=== TEST 15: ... and charged it stays: 15 (the reservation), not 5 (the answer's usage)
--- init
ZT::Redis::start();
Time::HiRes::sleep(2.1);
--- request
GET /zt/usage/alice
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like chomp
"period":"d","limit":100,"used":15,"remaining":85



=== TEST 16: a settlement that reaches Redis refunds: 5 charged, not 15
--- prefix: zt084f:
--- config eval
$::Conf
--- request eval
["POST /v1/small\n$::B15", "GET /zt/usage/alice"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Rita"]
--- error_code eval
[200, 200]
--- response_body_like eval
['.*', '"period":"d","limit":100,"used":5,"remaining":95']



=== TEST 17: Redis answers an error (a key of another type): 503, never a pass
--- prefix: zt084g:
--- config eval
$::Conf
--- init
main::redis_cli('SET', 'zt084g:usage:r:alice:d', 'not a hash');
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 503
--- error_log
WRONGTYPE



=== TEST 18: two gateways, one budget in Redis: each sees what the other spent (once settled: a settlement is sent as a request ends, not waited for), the fourth request is refused
--- prefix: zt084h:
--- config eval
$::Conf =~ s/tokens=100\/d tokens=50\/h;/tokens=60\/d;/gr
--- init
main::second_start('zt084h:');
--- request eval
["POST /v1/chat\n$::B15", "POST /second/v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /second/v1/chat\n$::B15", "GET /second/zt/usage/alice"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Alice", "Authorization: Bearer $::Alice", "Authorization: Bearer $::Alice", "Authorization: Bearer $::Rita"]
--- error_code eval
[200, 200, 200, 429, 200]
--- response_headers eval
["x-ratelimit-remaining-tokens: 45", "x-ratelimit-remaining-tokens: 28", "x-ratelimit-remaining-tokens: 11", "x-ratelimit-remaining-tokens: 9", ""]
--- response_body_like eval
['.*', '.*', '.*', 'Limit 60, Used 51, Requested 15', '"windows":\[\{"period":"d","limit":60,"used":51,"remaining":9,']
--- wait: 0.2



=== TEST 19: an approve rule first: a parked request reserves nothing; the reviewer API is never limited, even under a server-wide limit
--- prefix: zt084i:
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt084i: timeout=300ms;
    log_format zt_audit escape=none '$zt_audit';
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_usage_limit zone=all key=$zt_sub tokens=100/d;
    access_log logs/audit.log zt_audit;

    location = /v1/chat {
        zt_policy approve scope=inference:invoke body~needs-approval;
        zt_policy allow   scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
    }

    location /zt/ {
        zt_policy allow scope=zt:review;
        zt_approval_api;
    }

    location = /model/ok {
        default_type application/json;
        return 200 $TEST_NGINX_ZT_MODEL_OK;
    }

    location = /audit {
        access_log off;
        zt_usage_limit off;
        default_type text/plain;
        alias logs/audit.log;
    }
--- request eval
["POST /v1/chat\n" . '{"prompt":"needs-approval","max_tokens":10}', "GET /zt/usage/alice"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Rita"]
--- error_code eval
[202, 200]
--- response_headers eval
["!x-ratelimit-remaining-tokens", "!x-ratelimit-remaining-tokens"]
--- response_body_like eval
['"status":"pending"', '"zone":"all","store":"shm","windows":\[\]']



=== TEST 19b: ... approved ...
--- request
POST /zt/approvals/%%id%%/approve
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_headers
!x-ratelimit-remaining-tokens



=== TEST 19c: ... its retry reserves (14 of 100) and is charged its usage (17)
--- request eval
["POST /v1/chat\n" . '{"prompt":"needs-approval","max_tokens":10}', "GET /zt/usage/alice"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-ZT-Approval: %%id%%", "Authorization: Bearer $::Rita"]
--- error_code eval
[200, 200]
--- response_headers eval
["x-ratelimit-remaining-tokens: 86", "!x-ratelimit-remaining-tokens"]
--- response_body_like eval
['"usage"', '"windows":\[\{"period":"d","limit":100,"used":17,"remaining":83,']



=== TEST 20: the audit: the parked request without usage, the retry with its usage, the reviewer's views
--- request
GET /audit
--- error_code: 200
--- audit_events eval
[ 0, [ [ 202, "approval.park", undef ], [ 200, "usage.view", undef ], [ 200, "approval.approve", undef ],
  [ 200, "approval.consume", { input_tokens => 12, output_tokens => 5, reserved => 14, charged => 17, from_answer => JSON::PP::true } ],
  [ 200, "usage.view", undef ] ] ]



=== TEST 21: Redis down: the 503 is audited as an error of the usage store
--- prefix: zt084j:
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt084j: timeout=300ms;
    log_format zt_audit escape=none '$zt_audit';
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;

    location = /v1/chat {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=r key=$zt_sub tokens=100/d;
        zt_usage_limit_store redis;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
    }

    location = /audit { default_type text/plain; alias logs/audit.log; }
--- init
ZT::Redis::stop();
--- request eval
["POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice", ""]
--- error_code eval
[503, 200]
--- audit_events eval
[ 1, [ [ 503, "usage.error", undef, "error" ] ] ]
