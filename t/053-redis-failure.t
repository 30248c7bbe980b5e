# Redis on nginx's event loop when Redis fails: stopped, paused (SIGSTOP),
# restarted, slow past "timeout", answering errors.  Approval and grant
# paths answer 503 with Retry-After and recover; locations that need no
# Redis keep answering at once, from the same worker, while Redis hangs.
# Also AUTH and SELECT from zt_redis, unix sockets, two workers, and two
# nginx instances sharing one Redis.
#
# The blocks run in order and change the file's own Redis (SIGSTOP,
# restart); ZT::Redis stops it, paused or not, however the file ends.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Redis;
use Time::HiRes ();
use IO::Socket::INET ();

no_shuffle();
repeat_each(1);
workers(2);
master_on();

our $Reviewer = ZT::Token::mint(
    claims => { sub => 'rita', scope => 'approvals:review' }, exp_in => 3600);
our $Alice = ZT::Token::mint(
    claims => { sub => 'alice', scope => 'inference:invoke' }, exp_in => 3600);
our $Larry = ZT::Token::mint(
    claims => { sub => 'larry', scope => 'inference:invoke models:large' },
    exp_in => 3600);

# bodies of this run's parked requests
our $Held = '{"prompt":"needs approval: held","n":' . time . '}';
our $Kept = '{"prompt":"needs approval: kept","n":' . time . '}';
our $Two  = '{"prompt":"needs approval: two","n":' . time . '}';

# "--- capture: NAME" keeps the approval id of a response, "%%NAME%%" puts
# it into a later block
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

sub nginx_reload {
    my $pidfile = server_root() . '/logs/nginx.pid';
    open my $fh, '<', $pidfile or die "no $pidfile\n";
    my $pid = <$fh>;
    $pid =~ /(\d+)/ or die "bad $pidfile\n";
    kill 'HUP', $1;
    Time::HiRes::sleep(1);
}

my $RedisDir = ZT::Redis::dir();
my $UnixDir = "$RedisDir/unix";

$ENV{TEST_NGINX_ZT_UNIX_SOCK} = "$UnixDir/redis.sock";

# a free port for the second nginx instance of the last blocks
$ENV{TEST_NGINX_ZT_SECOND_PORT} = do {
    my $port;
    for (1 .. 100) {
        my $try = 20000 + int rand 20000;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $try, Listen => 1,
                                      Proto => 'tcp') or next;
        close $s;
        $port = $try;
        last;
    }
    $port;
};

sub redis_pid    { ZT::Redis::pid() }
sub redis_pause  { ZT::Redis::pause() }
sub redis_resume { ZT::Redis::resume() }
sub redis_stop   { ZT::Redis::stop() }
sub redis_start  { ZT::Redis::start() }

# a Redis of its own on a unix socket, with a password
sub unix_redis_start {
    mkdir $UnixDir;
    unix_redis_stop();
    system('redis-server', '--port', '0', '--unixsocket', "$UnixDir/redis.sock",
           '--unixsocketperm', '777', '--requirepass', 's3cret-pw',
           '--daemonize', 'yes', '--pidfile', "$UnixDir/redis.pid",
           '--dir', $UnixDir, '--logfile', "$UnixDir/redis.log",
           '--save', '', '--appendonly', 'no') == 0
        or die "cannot start a unix socket redis-server\n";
    for (1 .. 100) {
        last if -S "$UnixDir/redis.sock";
        Time::HiRes::sleep(0.05);
    }
}

sub unix_redis_stop {
    open my $fh, '<', "$UnixDir/redis.pid" or return;
    my $pid = <$fh>;
    return unless $pid && $pid =~ /(\d+)/;
    kill 'TERM', $1;
    for (1 .. 100) {
        last unless kill 0, $1;
        Time::HiRes::sleep(0.05);
    }
}

# the second nginx of the two-instance blocks
my $SecondRoot = "$RedisDir/second-nginx";

sub second_nginx_start {
    my $port = $ENV{TEST_NGINX_ZT_SECOND_PORT};
    my $modules = join '', map { "load_module $_;\n" }
                           split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '';
    my $user = $> == 0 ? "user root;" : "";
    second_nginx_stop();
    mkdir $SecondRoot;
    mkdir "$SecondRoot/$_" for qw(conf logs html);
    open my $out, '>', "$SecondRoot/conf/nginx.conf" or die $!;
    print $out <<"_EOC_";
$modules
$user
worker_processes 2;
daemon on;
master_process on;
error_log $SecondRoot/logs/error.log info;
pid $SecondRoot/logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $SecondRoot/client_body_temp;
    proxy_temp_path $SecondRoot/proxy_temp;
    fastcgi_temp_path $SecondRoot/fastcgi_temp;
    uwsgi_temp_path $SecondRoot/uwsgi_temp;
    scgi_temp_path $SecondRoot/scgi_temp;
    zt_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT} prefix=zt053two:;
    zt_jwks_file $ENV{TEST_NGINX_DATA_DIR}/jwks.json;
    zt_issuer https://issuer.zt.test;
    server {
        listen 127.0.0.1:$port;
        location /zt/ {
            zt_policy allow scope=approvals:review;
            zt_approval_api;
        }
        location = /v1/chat {
            zt_policy approve scope=inference:invoke "body~*needs approval";
            zt_policy allow   scope=inference:invoke;
            echo "FORWARDED by the second instance";
        }
    }
}
_EOC_
    close $out;
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    system($bin, '-p', "$SecondRoot/", '-c', "$SecondRoot/conf/nginx.conf",
           '-e', "$SecondRoot/logs/error.log") == 0
        or die "the second nginx did not start\n";
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        if ($s) { close $s; last }
        Time::HiRes::sleep(0.05);
    }
}

sub second_nginx_stop {
    open my $fh, '<', "$SecondRoot/logs/nginx.pid" or return;
    my $pid = <$fh>;
    return unless $pid && $pid =~ /(\d+)/;
    kill 'QUIT', $1;
    for (1 .. 100) {
        last unless kill 0, $1;
        Time::HiRes::sleep(0.05);
    }
}

add_cleanup_handler(sub {
    unix_redis_stop();
    second_nginx_stop();
});

ZT::Redis::start();
run_tests();

__DATA__

=== TEST 1: Redis up: the reviewer API answers from Redis
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=300ms prefix=zt053:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
    location = /plain {
        echo plain;
    }
    location = /v1/chat {
        zt_policy approve scope=inference:invoke "body~*needs approval";
        zt_policy allow   scope=inference:invoke;
        echo FORWARDED;
    }
    location = /v1/large {
        zt_policy allow scope=models:large;
        echo LARGE;
    }
--- request
GET /zt/approvals?status=pending
--- more_headers eval
"Authorization: Bearer $::Reviewer"
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body_like chomp
^\{"approvals":\[.*\]\}$
--- no_error_log
[error]
[alert]



=== TEST 2: Redis up: a request is parked ...
--- request eval
"POST /v1/chat\n$::Held"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- capture: held
--- error_code: 202



=== TEST 3: ... and approved (it is used after the outage)
--- request
POST /zt/approvals/%%held%%/approve
--- more_headers eval
"Authorization: Bearer $::Reviewer"
--- error_code: 200
--- response_body_like chomp
"status":"approved"



=== TEST 4: ... and another one is parked and left pending
--- request eval
"POST /v1/chat\n$::Kept"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- capture: kept
--- error_code: 202



=== TEST 5: Redis paused past the timeout: the reviewer API answers 503 with Retry-After
--- init
main::redis_pause();
--- request
GET /zt/approvals?status=pending
--- more_headers eval
"Authorization: Bearer $::Reviewer"
--- error_code: 503
--- response_headers_like
Retry-After: \d+
Content-Type: application/json
--- response_body_like chomp
"code":"approval_unavailable"
--- error_log eval
qr/zt: redis 127\.0\.0\.1:\d+ did not answer within 300 ms/
--- no_error_log
[alert]



=== TEST 6: Redis paused: a request to be parked gets 503 with Retry-After, never an allow
--- request eval
"POST /v1/chat\n{\"prompt\":\"needs approval: while paused\"}"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 503
--- response_headers_like
Retry-After: \d+
--- response_body_unlike chomp
FORWARDED



=== TEST 7: Redis paused: the retry of an approved request gets 503, not forwarded
--- request eval
"POST /v1/chat\n$::Held"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-ZT-Approval: %%held%%"
--- error_code: 503
--- response_headers_like
Retry-After: \d+
--- response_body_unlike chomp
FORWARDED



=== TEST 8: Redis paused: a token lacking a scope cannot be helped by a grant: 503
--- request
GET /v1/large
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 503
--- response_headers_like
Retry-After: \d+
--- response_body_unlike chomp
LARGE



=== TEST 9: Redis paused: requests that need no Redis are answered at once
--- request eval
["POST /v1/chat\n{\"prompt\":\"hello\"}", "GET /v1/large", "GET /plain"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Larry", ""]
--- error_code eval
[200, 200, 200]
--- response_body eval
["FORWARDED\n", "LARGE\n", "plain\n"]
--- timeout: 0.5



=== TEST 10: Redis paused: a location without Redis answers at once from the same worker
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s prefix=zt053:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
    location = /plain {
        echo plain;
    }
    location = /v1/chat {
        zt_policy approve scope=inference:invoke "body~*needs approval";
        echo FORWARDED;
    }
    # one request, one worker: the API call hangs on Redis for 2s in a
    # subrequest while /plain is asked; a worker waiting for Redis could
    # not answer /plain before the 2s are over
    location = /t {
        zt_policy allow scope=approvals:review;
        echo_reset_timer;
        echo_location_async /zt/approvals;
        echo_sleep 0.1;
        echo_location /plain;
        echo "plain after $echo_timer_elapsed s";
    }
--- init
main::redis_pause();
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $::Reviewer"
--- timeout: 10
--- error_code: 200
--- response_body_like eval
qr/"code":"approval_unavailable".*\nplain\nplain after 0\.[0-5]\d* s\n$/s
--- error_log eval
qr/did not answer within 2000 ms/
--- no_error_log
[alert]



=== TEST 11: Redis paused: a client that gives up is noticed, its request detached from Redis
--- init
Time::HiRes::sleep(0.3);
--- request eval
"POST /v1/chat\n{\"prompt\":\"needs approval: gave up\"}"
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
--- no_error_log
[alert]



=== TEST 12: Redis resumed: the worker carries on
--- init
main::redis_resume();
Time::HiRes::sleep(0.5);
--- request
GET /plain
--- error_code: 200
--- no_error_log
[alert]



=== TEST 13: Redis resumed: recovery once the backoff is over; the approval held is used
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=300ms prefix=zt053:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
    location = /plain {
        echo plain;
    }
    location = /v1/chat {
        zt_policy approve scope=inference:invoke "body~*needs approval";
        zt_policy allow   scope=inference:invoke;
        echo FORWARDED;
    }
    location = /v1/large {
        zt_policy allow scope=models:large;
        echo LARGE;
    }
--- init
main::redis_resume();
Time::HiRes::sleep(2.2);
--- request eval
["GET /zt/approvals?status=pending", "POST /v1/chat\n$::Held"]
--- more_headers eval
["Authorization: Bearer $::Reviewer",
 "Authorization: Bearer $::Alice\nX-ZT-Approval: %%held%%"]
--- error_code eval
[200, 200]
--- response_body_like eval
['^\{"approvals":\[.*\]\}$', '^FORWARDED$']
--- no_error_log
[alert]



=== TEST 14: Redis stopped: 503 with Retry-After at once, no allow
--- init
main::redis_stop();
--- request
GET /zt/grants?sub=alice
--- more_headers eval
"Authorization: Bearer $::Reviewer"
--- error_code: 503
--- response_headers_like
Retry-After: \d+
--- response_body_like chomp
"code":"approval_unavailable"
--- error_log eval
qr/zt: redis 127\.0\.0\.1:\d+: connect failed: .*refused/i
--- no_error_log
[alert]



=== TEST 15: Redis stopped: requests that need no Redis are unaffected
--- request eval
["GET /plain", "POST /v1/chat\n{\"prompt\":\"hello\"}"]
--- more_headers eval
["", "Authorization: Bearer $::Alice"]
--- error_code eval
[200, 200]
--- response_body eval
["plain\n", "FORWARDED\n"]
--- no_error_log
[alert]



=== TEST 16: Redis started again: recovery; the pending approval survived the restart
--- init
main::redis_start();
Time::HiRes::sleep(2.2);
--- request
GET /zt/approvals/%%kept%%
--- more_headers eval
"Authorization: Bearer $::Reviewer"
--- error_code: 200
--- response_body_like chomp
"status":"pending"
--- no_error_log
[alert]



=== TEST 17: Redis restarted under an open connection: the next command reconnects
--- init
main::redis_stop();
main::redis_start();
--- request eval
["GET /zt/grants?sub=alice", "GET /zt/grants?sub=alice", "GET /zt/grants?sub=alice"]
--- more_headers eval
["Authorization: Bearer $::Reviewer", "Authorization: Bearer $::Reviewer",
 "Authorization: Bearer $::Reviewer"]
--- error_code eval
[200, 200, 200]
--- no_error_log
[alert]



=== TEST 18: nginx reloaded: the new workers see the pending approval, it can be approved and used
--- init
main::nginx_reload();
--- request eval
["GET /zt/approvals?status=pending",
 "POST /zt/approvals/%%kept%%/approve",
 "POST /v1/chat\n$::Kept"]
--- more_headers eval
["Authorization: Bearer $::Reviewer", "Authorization: Bearer $::Reviewer",
 "Authorization: Bearer $::Alice\nX-ZT-Approval: %%kept%%"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
['"id":"%%kept%%"', '"status":"approved"', '^FORWARDED$']
--- no_error_log
[alert]



=== TEST 19: Redis answers an error (AUTH refused): 503, the reply is logged
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT password=not-the-password timeout=300ms prefix=zt053:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
--- request
GET /zt/approvals
--- more_headers eval
"Authorization: Bearer $::Reviewer"
--- error_code: 503
--- response_headers_like
Retry-After: \d+
--- error_log eval
qr/zt: redis 127\.0\.0\.1:\d+: AUTH failed: "[^"]+"/
--- no_error_log
not-the-password
[alert]



=== TEST 20: db=N: SELECT before every command; a grant made in db 5 ...
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=5 prefix=zt053db:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
--- request eval
["POST /zt/grants\n{\"sub\":\"dora\",\"scope\":\"db:five\",\"ttl\":\"10m\"}",
 "GET /zt/grants?sub=dora"]
--- more_headers eval
["Authorization: Bearer $::Reviewer\nContent-Type: application/json",
 "Authorization: Bearer $::Reviewer"]
--- error_code eval
[201, 200]
--- response_body_like eval
['"scope":"db:five"', '"scope":"db:five"']
--- no_error_log
[error]



=== TEST 21: ... is not seen from db 6
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT db=6 prefix=zt053db:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
--- request
GET /zt/grants?sub=dora
--- more_headers eval
"Authorization: Bearer $::Reviewer"
--- error_code: 200
--- response_body
{"grants":[]}
--- no_error_log
[error]



=== TEST 22: unix socket with a password: AUTH first, then the command
--- http_config
    zt_redis unix:$TEST_NGINX_ZT_UNIX_SOCK password=s3cret-pw prefix=zt053u:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
--- init
main::unix_redis_start();
--- request eval
["POST /zt/grants\n{\"sub\":\"ulla\",\"scope\":\"unix:sock\",\"ttl\":60}",
 "GET /zt/grants?sub=ulla"]
--- more_headers eval
["Authorization: Bearer $::Reviewer\nContent-Type: application/json",
 "Authorization: Bearer $::Reviewer"]
--- error_code eval
[201, 200]
--- response_body_like eval
['"granted_by":"rita"', '"scope":"unix:sock"']
--- no_error_log
[error]



=== TEST 23: two nginx instances share one Redis: a request parked on one ...
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt053two:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
    location = /v1/chat {
        zt_policy approve scope=inference:invoke "body~*needs approval";
        zt_policy allow   scope=inference:invoke;
        echo "FORWARDED by the first instance";
    }
    location /second/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_ZT_SECOND_PORT/;
    }
--- init
main::unix_redis_stop();
main::second_nginx_start();
--- request eval
"POST /v1/chat\n$::Two"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- capture: two
--- error_code: 202



=== TEST 24: ... is listed by the other instance ...
--- request
GET /second/zt/approvals?status=pending
--- more_headers eval
"Authorization: Bearer $::Reviewer"
--- error_code: 200
--- response_body_like chomp
"id":"%%two%%"



=== TEST 25: ... approved on the other instance ...
--- request
POST /second/zt/approvals/%%two%%/approve
--- more_headers eval
"Authorization: Bearer $::Reviewer"
--- error_code: 200
--- response_body_like chomp
"status":"approved"



=== TEST 26: ... and the retry on the first one is forwarded, once for both
--- request eval
["POST /v1/chat\n$::Two", "POST /second/v1/chat\n$::Two"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-ZT-Approval: %%two%%",
 "Authorization: Bearer $::Alice\nX-ZT-Approval: %%two%%"]
--- error_code eval
[200, 403]
--- response_body_like eval
['^FORWARDED by the first instance$', '"code":"approval_consumed"']



=== TEST 27: a grant made on one instance is seen by the other
--- request eval
["POST /zt/grants\n{\"sub\":\"tom\",\"scope\":\"shared:two\",\"ttl\":\"5m\"}",
 "GET /second/zt/grants?sub=tom"]
--- more_headers eval
["Authorization: Bearer $::Reviewer\nContent-Type: application/json",
 "Authorization: Bearer $::Reviewer"]
--- error_code eval
[201, 200]
--- response_body_like eval
['"scope":"shared:two"', '"scope":"shared:two".*"granted_by":"rita"']
