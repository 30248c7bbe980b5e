# DPoP replay cache: the jti of every accepted proof is remembered in one
# shared-memory zone, so a proof used with one worker is refused by the
# other; a full zone refuses proofs (503, fail closed) until entries
# expire.  nginx runs with a master and two workers here; the replays go
# to a reuseport listener, where the kernel spreads connections over both
# workers, and each answer names the worker that gave it (X-Worker).
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET ();
use Time::HiRes ();
use ZT::Token;
use ZT::DPoP;

log_level('info');
no_shuffle();
workers(2);
master_on();

$ENV{TEST_NGINX_REPLAY_PORT} = do {
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

our $Backend = <<'_EOC_';
    location = /backend {
        echo "backend saw: [$http_authorization] [$http_dpop]";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $block->config . $Backend);
    $block->set_value('request', "GET /t\n") unless defined $block->request;
});

our $Token = ZT::DPoP::token();
our $Proof = ZT::DPoP::proof(token => $Token);

# one request on a new connection: (status, worker pid, whole answer)
sub call {
    my ($port, $headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or die "cannot connect to $port: $!";

    $headers =~ s/\n/\r\n/g;
    print $s "GET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             . "$headers\r\n";

    local $/;
    my $answer = <$s> // '';
    close $s;

    my ($status) = $answer =~ m{^HTTP/1\.\d (\d+)};
    my ($pid) = $answer =~ /^X-Worker: (\d+)/mi;

    return ($status // 0, $pid // 0, $answer);
}

# the proof is used once, then replayed until a replay meets the other
# worker; every replay must be refused, wherever it lands
sub cross_worker {
    my $port = $ENV{TEST_NGINX_REPLAY_PORT};
    my $headers = ZT::DPoP::headers($Token, $Proof);
    my ($status, $first) = call($port, $headers);

    Test::More::is($status, 200, 'the first use of the proof passes');

    my ($other, @passed);

    for (1 .. 300) {
        my ($st, $pid, $answer) = call($port, $headers);

        push @passed, "$st from $pid" if $st != 401
                                         || $answer !~ /jti was already used/;

        if ($pid && $pid != $first) {
            $other = $pid;
            last;
        }
    }

    Test::More::ok($other, "a replay reached the other worker ($first, "
                           . ($other // 'none') . ')');
    Test::More::is("@passed", '', 'every replay is refused, on both workers');
}

# new proofs until the zone is full: (accepted, refused with 503, other);
# $ahead: the proofs' iat that many seconds ahead, so they live longer
sub fill {
    my ($max, $ahead) = @_;
    my ($ok, $full, @other) = (0, 0);

    for (1 .. $max) {
        my $proof = ZT::DPoP::proof(token => $Token,
                                    claims => { iat => time + ($ahead || 0) });
        my ($st, $pid, $answer) =
            call($ENV{TEST_NGINX_SERVER_PORT},
                 ZT::DPoP::headers($Token, $proof));

        if ($st == 200) {
            $ok++;
            next;
        }

        if ($st == 503 && $answer =~ /^Retry-After: 1\r$/m
            && $answer =~ /"code":"dpop_replay_cache_full"/)
        {
            $full++;
            last if $full == 3;
            next;
        }

        push @other, $st;
    }

    return ($ok, $full, @other);
}

our ($Filled, $Full);

sub full {
    my ($ok, $full, @other) = fill(2000);

    Test::More::ok($ok > 100, "proofs are accepted until the zone is full "
                              . "($ok)");
    Test::More::is($full, 3, 'then refused with 503 and Retry-After');
    Test::More::is("@other", '', 'and nothing else happens');
}

# zt_leeway 5s and iat 4 s ahead: an entry lives 10 s, long enough to
# fill the zone however slow the build (ASan), short enough to wait for
# (the first one, in the second after $start at the latest)
sub recovers {
    my $start = time;
    my ($ok, $full) = fill(2000, 4);

    Test::More::is($full, 3, "the zone is full after $ok proofs");

    my $left = $start + 11.5 - Time::HiRes::time();
    Time::HiRes::sleep($left) if $left > 0;

    my ($st) = call($ENV{TEST_NGINX_SERVER_PORT},
                    ZT::DPoP::headers($Token,
                                      ZT::DPoP::proof(token => $Token)));

    Test::More::is($st, 200, 'a new proof passes once the entries expired');
}

# a proof used, then nginx reloaded (new workers, the same zone)
our $Reloaded = ZT::DPoP::proof(token => $Token);

sub reload {
    my ($st) = call($ENV{TEST_NGINX_SERVER_PORT},
                    ZT::DPoP::headers($Token, $Reloaded));

    Test::More::is($st, 200, 'the proof passes before the reload');

    open my $fh, '<', server_root() . '/logs/nginx.pid' or die "no pid file\n";
    my $pid = <$fh>;
    $pid =~ /(\d+)/ or die "bad pid file\n";
    kill 'HUP', $1;
    Time::HiRes::sleep(1);
}

run_tests();

__DATA__

=== TEST 1: a proof used with one worker is refused by the other (one zone for all workers)
--- config
    listen 127.0.0.1:$TEST_NGINX_REPLAY_PORT reuseport;
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop required;
        zt_policy allow scope=inference:invoke;
        add_header X-Worker $pid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- init
::cross_worker();
--- more_headers eval
ZT::DPoP::headers($::Token, $::Proof)
--- error_code: 401
--- response_body_like: "code":"invalid_dpop_proof","message":"DPoP proof jti was already used"
--- error_log
zt: invalid DPoP proof: DPoP proof jti was already used



=== TEST 2: a full replay cache refuses new proofs with 503 (fail closed) and logs why
--- http_config
    zt_dpop_replay_cache 32k;
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_leeway 60s;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- init
::full();
--- more_headers eval
ZT::DPoP::headers($::Token, ZT::DPoP::proof(token => $::Token))
--- error_code: 503
--- response_headers
Retry-After: 1
--- response_body
{"error":{"type":"service_unavailable","code":"dpop_replay_cache_full","message":"the gateway cannot remember more DPoP proofs now, retry with a new proof"}}
--- error_log
zt: the DPoP replay cache is full, proofs are refused: raise "zt_dpop_replay_cache"



=== TEST 3: a full replay cache does not stop bearer tokens where DPoP is optional
--- http_config
    zt_dpop_replay_cache 32k;
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_leeway 60s;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- init
::full();
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint()
--- error_code: 200



=== TEST 4: once its entries expire, a full zone takes proofs again
--- http_config
    zt_dpop_replay_cache 32k;
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_leeway 5s;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- init
::recovers();
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint()
--- error_code: 200
--- response_body
backend saw: [] []



=== TEST 5: a reload keeps the replay cache: a proof used before it is refused after it
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- init
::reload();
--- more_headers eval
ZT::DPoP::headers($::Token, $::Reloaded)
--- error_code: 401
--- response_body_like: DPoP proof jti was already used
--- error_log
reconfiguring
