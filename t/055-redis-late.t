# A Redis command that runs after the gateway gave up on it changes
# nothing.  Redis is paused (SIGSTOP) while a command is in flight: the
# gateway answers 503 when "timeout" (300ms) is over, and Redis, resumed
# well within a second, runs the command late.  Each script compares
# Redis's own clock with a deadline the gateway computed in Redis's clock
# (the offset is measured per connection), with no slack: the late command
# is refused.  So an approved request retried during the pause is still
# approved, and forwarded exactly once afterwards; a park answered 503 never
# turns up as pending; a reviewer's decision or a grant change answered 503
# never happens.
#
# One worker, so that one connection is reasoned about.  The blocks run in
# order and pause the file's own Redis; ZT::Redis stops it, paused or not,
# however the file ends.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Redis;
use Digest::SHA ();
use Time::HiRes ();

no_shuffle();
repeat_each(1);
workers(1);

sub token {
    my ($sub, $scope) = @_;
    return ZT::Token::mint(claims => { sub => $sub, scope => $scope },
                           exp_in => 3600);
}

our $Alice = token('alice', 'inference:invoke');
our $Rita  = token('rita', 'approvals:review');

our $Run  = time . "-$$";
our $Held = qq({"prompt":"needs approval: held","run":"$Run"});
our $Late = qq({"prompt":"needs approval: parked late","run":"$Run"});
our $LateSha = Digest::SHA::sha256_hex($Late);
our $Gone = qq({"prompt":"needs approval: client gone","run":"$Run"});
our $Two  = qq({"prompt":"needs approval: decided late","run":"$Run"});
our $Bob  = "bob-$Run";
our $BobToken = token($Bob, 'inference:invoke');

our %Id;

add_response_body_check(sub {
    my ($block, $body) = @_;
    my $name = $block->capture or return;
    $Id{$name} = $1 if $body =~ /"id":"([0-9a-f]{32})"/;
});

add_block_preprocessor(sub {
    my $block = shift;
    for my $section (qw(request more_headers response_body_like)) {
        my $v = $block->$section;
        next unless defined $v;
        my @v = map {
            my $s = $_;
            $s =~ s/%%(\w+)%%/defined $Id{$1} ? $Id{$1} : "no-id-$1"/ge
                unless ref $s;
            $s;
        } ref $v eq 'ARRAY' ? @$v : ($v);
        $block->set_value($section, ref $v eq 'ARRAY' ? \@v : $v[0]);
    }
});

sub redis_pause { ZT::Redis::pause() }

# resumed, Redis runs what it was sent meanwhile; then the worker's backoff
# (100ms after one failure) is let pass
sub redis_resume {
    ZT::Redis::resume();
    Time::HiRes::sleep(0.4);
}

ZT::Redis::start();
run_tests();

__DATA__

=== TEST 1: Redis up: a request is parked ...
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=300ms prefix=zt055:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
    location = /v1/chat {
        zt_policy approve scope=inference:invoke "body~needs approval";
        zt_policy allow   scope=inference:invoke;
        echo FORWARDED;
    }
    location = /v1/large {
        zt_policy allow scope=models:large;
        echo LARGE;
    }
--- request eval
"POST /v1/chat\n$::Held"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- capture: held
--- error_code: 202



=== TEST 2: ... and approved
--- request
POST /zt/approvals/%%held%%/approve
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like chomp
"status":"approved"



=== TEST 3: Redis paused: the approved retry gets 503 with Retry-After, not forwarded
--- init
main::redis_pause();
--- request eval
"POST /v1/chat\n$::Held"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-ZT-Approval: %%held%%"
--- error_code: 503
--- response_headers_like
Retry-After: \d+
--- response_body_like chomp
"code":"approval_unavailable"
--- error_log eval
qr/zt: redis 127\.0\.0\.1:\d+ did not answer within 300 ms/



=== TEST 4: Redis resumed within a second ran the retry late: refused, the approval is still approved
--- init
main::redis_resume();
--- request
GET /zt/approvals/%%held%%
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like chomp
"status":"approved"



=== TEST 5: the next retry is forwarded, exactly once
--- request eval
["POST /v1/chat\n$::Held", "POST /v1/chat\n$::Held"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-ZT-Approval: %%held%%",
 "Authorization: Bearer $::Alice\nX-ZT-Approval: %%held%%"]
--- error_code eval
[200, 403]
--- response_body_like eval
['^FORWARDED$', '"code":"approval_consumed"']



=== TEST 6: Redis paused: a request to be parked gets 503 ...
--- init
main::redis_pause();
--- request eval
"POST /v1/chat\n$::Late"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 503
--- response_headers_like
Retry-After: \d+



=== TEST 7: ... and, Redis resumed, it never turns up as pending
--- init
main::redis_resume();
--- request
GET /zt/approvals?status=pending
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like eval
qr/^\{"approvals":\[(?!.*$::LateSha)/s



=== TEST 8: a request is parked for a reviewer's decision
--- request eval
"POST /v1/chat\n$::Two"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- capture: two
--- error_code: 202



=== TEST 9: Redis paused: the reviewer's approval gets 503 ...
--- init
main::redis_pause();
--- request
POST /zt/approvals/%%two%%/approve
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 503
--- response_body_like chomp
"code":"approval_unavailable"



=== TEST 10: ... and, Redis resumed, it never happened: still pending, the retry is not forwarded
--- init
main::redis_resume();
--- request eval
["GET /zt/approvals/%%two%%", "POST /v1/chat\n$::Two"]
--- more_headers eval
["Authorization: Bearer $::Rita",
 "Authorization: Bearer $::Alice\nX-ZT-Approval: %%two%%"]
--- error_code eval
[200, 202]
--- response_body_like eval
['"status":"pending"', '"status":"pending"']



=== TEST 11: approved now; Redis paused: withdrawing it (deny) gets 503 ...
--- request
POST /zt/approvals/%%two%%/approve
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200



=== TEST 12: ... 503 while paused
--- init
main::redis_pause();
--- request
POST /zt/approvals/%%two%%/deny
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 503



=== TEST 13: ... and, Redis resumed, the deny never happened: the retry is forwarded
--- init
main::redis_resume();
--- request eval
"POST /v1/chat\n$::Two"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-ZT-Approval: %%two%%"
--- error_code: 200
--- response_body
FORWARDED



=== TEST 14: Redis paused: a grant gets 503 ...
--- init
main::redis_pause();
--- request eval
"POST /zt/grants\n{\"sub\":\"$::Bob\",\"scope\":\"models:large\",\"ttl\":\"10m\"}"
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 503
--- response_body_like chomp
"code":"approval_unavailable"



=== TEST 15: ... and, Redis resumed, it was never made: no grant, no access
--- init
main::redis_resume();
--- request eval
["GET /zt/grants?sub=$::Bob", "GET /v1/large"]
--- more_headers eval
["Authorization: Bearer $::Rita", "Authorization: Bearer $::BobToken"]
--- error_code eval
[200, 403]
--- response_body_like eval
['^\{"grants":\[\]\}$', '"error"']



=== TEST 16: granted now, Redis up: the scope holds ...
--- request eval
["POST /zt/grants\n{\"sub\":\"$::Bob\",\"scope\":\"models:large\",\"ttl\":\"10m\"}",
 "GET /v1/large"]
--- more_headers eval
["Authorization: Bearer $::Rita", "Authorization: Bearer $::BobToken"]
--- error_code eval
[201, 200]



=== TEST 17: Redis paused: revoking the grant gets 503 ...
--- init
main::redis_pause();
--- request eval
"DELETE /zt/grants/$::Bob/models:large"
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 503
--- response_body_like chomp
"code":"approval_unavailable"



=== TEST 18: ... and, Redis resumed, the revocation never happened: the grant holds
--- init
main::redis_resume();
--- request eval
["GET /v1/large", "GET /zt/grants?sub=$::Bob"]
--- more_headers eval
["Authorization: Bearer $::BobToken", "Authorization: Bearer $::Rita"]
--- error_code eval
[200, 200]
--- response_body_like eval
['^LARGE$', '"scope":"models:large"']



=== TEST 19: Redis paused: the grant lookup gets 503, never an allow ...
--- init
main::redis_pause();
--- request eval
"GET /v1/large"
--- more_headers eval
"Authorization: Bearer $::BobToken"
--- error_code: 503
--- response_body_like chomp
"code":"approval_unavailable"



=== TEST 20: ... and, Redis resumed, the grant is found again
--- init
main::redis_resume();
--- request eval
"GET /v1/large"
--- more_headers eval
"Authorization: Bearer $::BobToken"
--- error_code: 200
--- response_body
LARGE



=== TEST 21: a fresh connection: commands asked before the clock offset is in wait for it, and all are answered
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s prefix=zt055:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
    location = /v1/chat {
        zt_policy approve scope=inference:invoke "body~needs approval";
        zt_policy allow   scope=inference:invoke;
        echo FORWARDED;
    }
    location = /four {
        zt_policy allow scope=approvals:review;
        echo_location_async /zt/approvals;
        echo_location_async /zt/grants?sub=nobody;
        echo_location_async /zt/approvals;
        echo_location_async /zt/grants?sub=nobody;
    }
--- request
GET /four
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like eval
qr/^\{"approvals":\[.*\]\}\n\{"grants":\[\]\}\n\{"approvals":\[.*\]\}\n\{"grants":\[\]\}\n$/s
--- debug_log
a command waits for the clock offset
--- no_error_log
[error]



=== TEST 22: Redis paused, the connection warm: a client that gives up is detached from its command ...
--- init
main::redis_pause();
--- request eval
"POST /v1/chat\n$::Gone"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- timeout: 0.5
--- abort
--- ignore_response
--- wait: 0.3
--- error_log
client prematurely closed connection
--- debug_log
zt: redis command detached from its request



=== TEST 23: ... Redis resumed: the reply comes for a request that went away and is dropped
--- init
main::redis_resume();
--- request
GET /zt/approvals?status=pending
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- debug_log
for a request that went away, dropped
--- no_error_log
[alert]
