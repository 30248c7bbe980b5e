# Consuming an approval is atomic: retries racing with the same approved id
# forward exactly one request, whatever worker (each has its own Redis
# connection) they land on; two approvals racing on one request: one wins.
#
# The races are real requests: echo_location_async starts subrequests that
# proxy back to this server at once, from both workers.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Redis;

no_shuffle();
repeat_each(1);
workers(2);
master_on();

our $Alice = ZT::Token::mint(
    claims => { sub => 'alice', scope => 'inference:invoke' }, exp_in => 3600);
our $Rita = ZT::Token::mint(
    claims => { sub => 'rita', scope => 'approvals:review' }, exp_in => 3600);

our $Body = '{"prompt":"race","n":' . time . '}';

our %Id;

add_response_body_check(sub {
    my ($block, $body) = @_;
    my $name = $block->capture or return;
    $Id{$name} = $1 if $body =~ /"id":"([0-9a-f]{32})"/;
});

# --- distinct_ids: N  the body holds N approval ids, all different
add_response_body_check(sub {
    my ($block, $body) = @_;
    my $want = $block->distinct_ids or return;
    my %seen = map { $_ => 1 } $body =~ /"id":"([0-9a-f]{32})"/g;
    Test::More::is(scalar keys %seen, $want, $block->name . " - distinct ids");
});

add_block_preprocessor(sub {
    my $block = shift;
    for my $section (qw(request more_headers)) {
        my $v = $block->$section;
        next unless defined $v && !ref $v;
        $v =~ s/%%(\w+)%%/defined $Id{$1} ? $Id{$1} : "no-id-$1"/ge;
        $block->set_value($section, $v);
    }
});

ZT::Redis::start();
run_tests();

__DATA__

=== TEST 1: a request is parked ...
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt051:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
--- config eval
my $body = $::Body;
my $port = '$TEST_NGINX_SERVER_PORT';
my $race = CORE::join '', map { "        echo_location_async /retry$_ \$args;\n" } 1 .. 8;
<<"_EOC_";
    location = /v1/chat {
        zt_policy approve scope=inference:invoke;
        echo FORWARDED;
    }

    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }

    # eight identical retries at once
    location = /race {
$race
    }

    location ~ ^/retry\\d\$ {
        internal;
        set \$approval \$arg_id;
        rewrite ^ /v1/chat? break;
        proxy_method POST;
        proxy_set_body '$body';
        proxy_set_header X-ZT-Approval \$approval;
        proxy_set_header Content-Type application/json;
        proxy_pass http://127.0.0.1:$port;
    }

    # two reviewers' approvals of the same approval at once
    location = /decide {
        echo_location_async /decide-1 \$args;
        echo_location_async /decide-2 \$args;
    }

    location ~ ^/decide-\\d\$ {
        internal;
        set \$approval \$arg_id;
        rewrite ^ /zt/approvals/\$approval/approve? break;
        proxy_method POST;
        proxy_pass http://127.0.0.1:$port;
    }
_EOC_
--- request eval
"POST /v1/chat\n$::Body"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- capture: race
--- error_code: 202
--- response_body_like chomp
^\{"approval":\{"id":"[0-9a-f]{32}","status":"pending"



=== TEST 2: ... and approved
--- request
POST /zt/approvals/%%race%%/approve
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like chomp
"status":"approved"



=== TEST 3: eight identical retries at once: exactly one is forwarded, seven are 403 consumed
--- request
GET /race?id=%%race%%
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 200
--- response_body_like eval
qr/^(?=(?:(?!FORWARDED).)*FORWARDED(?:(?!FORWARDED).)*\z)(?=(?:.*?"code":"approval_consumed"){7})(?!(?:.*?"code":"approval_consumed"){8})/s
--- no_error_log
[alert]



=== TEST 4: the approval reads consumed once
--- request
GET /zt/approvals/%%race%%
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like chomp
"status":"consumed"



=== TEST 5: another request is parked ...
--- request eval
"POST /v1/chat\n$::Body"
--- more_headers eval
"Authorization: Bearer $::Alice"
--- capture: decide
--- error_code: 202



=== TEST 6: ... two approvals race on it: one wins, the other gets 409
--- request
GET /decide?id=%%decide%%
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like eval
qr/^(?=(?:.*?\{"approval":\{"id"){1})(?!(?:.*?\{"approval":\{"id"){2})(?=(?:.*?"code":"approval_not_pending"){1})(?!(?:.*?"code":"approval_not_pending"){2})/s



=== TEST 7: eight parks at once get eight approvals, each its own id
--- request
GET /race?id=
--- more_headers eval
"Authorization: Bearer $::Alice"
--- error_code: 200
--- response_body_like eval
qr/^(?=(?:.*?"status":"pending"){8})(?!.*FORWARDED)/s
--- distinct_ids: 8
