# Usage limits over time, shm store: fixed windows aligned on the clock
# (a second window here, so that the tests wait little), a settlement that
# comes after the window it reserved in has ended, and a zone that is full:
# keys whose windows have ended make room, keys still spending are never
# forgotten (503 instead).
#
# Blocks start on a fresh second (--- init waits for it): their requests
# then fall in the window they mean to.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Usage;
use Time::HiRes ();

no_shuffle();
repeat_each(1);

our $Alice = ZT::Token::mint(
    claims => { sub => 'alice', scope => 'inference:invoke' }, exp_in => 3600);

# costs 15 (see t/080)
our $B15 = '{"model":"m1","messages":[{"role":"user","content":"hello world!"}],"max_tokens":10}';

our $Ok = ZT::Usage::answer(in => 12, out => 5);
our $Big = ZT::Usage::answer(in => 20, out => 5);

# sleeps until the next second has begun (and a little)
sub next_second {
    my ($after) = @_;
    my $t = Time::HiRes::time();
    Time::HiRes::sleep(int($t) + 1 + ($after // 0.05) - $t);
}

# one request that calls the limited location as N callers in a row
sub flood {
    my ($n, $zone) = @_;
    join '', map { "        echo_location /call/$zone $_;\n" } 1 .. $n;
}

our $Conf = <<"_EOC_";
    zt_jwks_file \$TEST_NGINX_DATA_DIR/jwks.json;

    location = /v1/chat {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=sec key=\$zt_sub tokens=20/s;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/model/ok;
    }

    location = /v1/slow {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=slow key=\$zt_sub tokens=30/s;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/model/slow;
    }

    location = /model/ok {
        default_type application/json;
        return 200 @{[ ZT::Usage::nginx_quote($Ok) ]};
    }

    location = /model/slow {
        default_type application/json;
        echo_sleep 1.2;
        echo -n @{[ ZT::Usage::nginx_quote($Big) ]};
    }

    # zones of the smallest size, filled by callers whose key is X-User
    location = /full/x {
        zt_usage_limit zone=full:32k key=\$http_x_user tokens=100/d;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/model/ok;
    }

    location = /stale/x {
        zt_usage_limit zone=stale:32k key=\$http_x_user tokens=100/s;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/model/ok;
    }

    location ~ ^/call/(\\w+)\$ {
        set \$zone \$1;
        set \$user \$args;
        rewrite ^ /\$zone/x? break;
        proxy_method POST;
        proxy_set_body '{"max_tokens":10}';
        proxy_set_header X-User u\$user;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT;
    }

    location = /flood-full {
@{[ flood(300, 'full') ]}
    }

    location = /flood-stale {
@{[ flood(300, 'stale') ]}
    }
_EOC_

# --- counts: {pattern => how many times it is in the body (">N": more)}
add_response_body_check(sub {
    my ($block, $body) = @_;
    my $want = $block->counts or return;
    for my $pat (sort keys %$want) {
        my $n = () = $body =~ /\Q$pat\E/g;
        my $w = $want->{$pat};
        if ($w =~ /^>(\d+)$/) {
            ok($n > $1, $block->name . " - \"$pat\" more than $1 times ($n)");
        } else {
            is($n, $w, $block->name . " - \"$pat\" $w times");
        }
    }
});

run_tests();

__DATA__

=== TEST 1: a second's window: the second request of the same second is refused, told to retry within the second
--- init
main::next_second();
--- config eval
$::Conf
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Alice"]
--- error_code eval
[200, 429]
--- response_headers_like eval
["x-ratelimit-limit-tokens: 20\nx-ratelimit-remaining-tokens: 5\nx-ratelimit-reset-tokens: \\d{1,3}ms",
 "x-ratelimit-remaining-tokens: 3\nx-ratelimit-reset-tokens: \\d{1,3}ms\nRetry-After: 1\nretry-after-ms: \\d{1,3}"]
--- response_body_like eval
[".*", qr/tokens per second: Limit 20, Used 17, Requested 15\. Please try again in \d{1,3}ms\./]



=== TEST 2: the next second is a new window
--- init
main::next_second();
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 200
--- response_headers
x-ratelimit-remaining-tokens: 5



=== TEST 3: an answer that comes after its window ended: what it used beyond the reservation goes to the window of now (25 - 15 = 10)
--- init
main::next_second();
--- config eval
$::Conf
--- request eval
["POST /v1/slow\n$::B15", "POST /v1/slow\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Alice"]
--- error_code eval
[200, 200]
--- response_headers eval
["x-ratelimit-remaining-tokens: 15", "x-ratelimit-remaining-tokens: 5"]
--- timeout: 10



=== TEST 4: a zone full of keys still spending: 503 for a new key, and the error log says to make it larger
--- config eval
$::Conf
--- request
GET /flood-full
--- counts eval
{ '"code":"usage_store_full"' => '>0', '"object":"chat.completion"' => '>50' }
--- error_log
zt: usage: zone "full" is full of keys still spending, "u300" refused with 503: make the zone larger
--- timeout: 30



=== TEST 5: ... with Retry-After
--- request
POST /full/x
{"max_tokens":10}
--- more_headers
X-User: newcomer
--- error_code: 503
--- response_headers_like
Retry-After: \d+
--- response_body eval
'{"error":{"type":"service_unavailable","code":"usage_store_full","message":"the usage store is full, retry later"}}' . "\n"



=== TEST 6: ... and a key that was spending keeps what it spent (100 - 17 - 10)
--- request
POST /full/x
{"max_tokens":10}
--- more_headers
X-User: u1
--- error_code: 200
--- response_headers
x-ratelimit-remaining-tokens: 73



=== TEST 7: a zone full of keys whose second has passed ...
--- config eval
$::Conf
--- request
GET /flood-stale
--- counts eval
{ '"code":"usage_store_full"' => '>0' }
--- timeout: 30



=== TEST 8: ... makes room for new keys once their windows have ended
--- init
main::next_second(0.2);
--- request
POST /stale/x
{"max_tokens":10}
--- more_headers
X-User: later
--- error_code: 200
--- response_headers
x-ratelimit-remaining-tokens: 90
