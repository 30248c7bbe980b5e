# t/082's race with two workers: the shm store's lock is shared by both,
# each worker has its own Redis connection.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Usage;
use ZT::Redis;

no_shuffle();
repeat_each(1);
workers(2);
master_on();

our $Alice = ZT::Token::mint(
    claims => { sub => 'alice', scope => 'inference:invoke' }, exp_in => 3600);

# --- counts: {pattern => how many times it is in the body}
add_response_body_check(sub {
    my ($block, $body) = @_;
    my $want = $block->counts or return;
    for my $pat (sort keys %$want) {
        my $n = () = $body =~ /\Q$pat\E/g;
        is($n, $want->{$pat}, $block->name . " - \"$pat\" $want->{$pat} times");
    }
});

ZT::Redis::start();

run_tests();

__DATA__

=== TEST 1: two workers, shm store: 16 at once, exactly 4 served
--- config eval
ZT::Usage::race_config(store => 'shm', token => $::Alice)
--- request
GET /race
--- counts eval
{ 'MODEL-OK' => 4, '"code":"rate_limit_exceeded"' => 12 }
--- no_error_log
[alert]



=== TEST 2: ... and nothing is left
--- request
POST /v1/chat
{"max_tokens":1}
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 429
--- response_headers
x-ratelimit-remaining-tokens: 0



=== TEST 3: two workers, Redis store: 16 at once, exactly 4 served
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt083: timeout=$TEST_NGINX_REDIS_TIMEOUT;
--- config eval
ZT::Usage::race_config(store => 'redis', token => $::Alice)
--- request
GET /race
--- counts eval
{ 'MODEL-OK' => 4, '"code":"rate_limit_exceeded"' => 12 }
--- no_error_log
[alert]



=== TEST 4: ... and nothing is left
--- request
POST /v1/chat
{"max_tokens":1}
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 429
--- response_headers
x-ratelimit-remaining-tokens: 0
