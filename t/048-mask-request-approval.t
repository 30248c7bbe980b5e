# Request masking with approvals: the rules judge the body as sent (an
# approve rule on the secret parks the request), the reviewer sees the
# body as it would be forwarded (masked, never the secret, in Redis too),
# and the approved retry, judged again as sent, goes on masked.

use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Redis;
use Digest::SHA ();

no_shuffle();
repeat_each(1);

our $Alice = ZT::Token::mint(claims => { sub => 'alice', scope => 'inference:invoke' }, exp_in => 3600);
our $Rita = ZT::Token::mint(claims => { sub => 'rita', scope => 'approvals:review' }, exp_in => 3600);

our $Prompt = '{"prompt":"charge 4111 1111 1111 1111 now","n":' . time . '}';
our $Masked = $Prompt =~ s/4111 1111 1111 1111/[REDACTED]/r;
our $MaskedSha = Digest::SHA::sha256_hex($Masked);

our %Id;

add_response_body_check(sub {
    my ($block, $body) = @_;
    $Id{id} = $1 if $block->name =~ /parks/ && $body =~ /"id":"([0-9a-f]{32})"/;
});

add_block_preprocessor(sub {
    my $block = shift;
    for my $section (qw(request more_headers)) {
        my $v = $block->$section;
        next unless defined $v && !ref $v;
        $block->set_value($section, $v =~ s/%%id%%/$Id{id} \/\/ 'none'/ger);
    }
});

ZT::Redis::start();
run_tests();

__DATA__

=== TEST 1: an approve rule on the secret parks the request: the rules read the body as sent
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt048:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
--- config
    location = /v1/chat {
        zt_policy approve scope=inference:invoke "body~1111 now\"";
        zt_policy allow scope=inference:invoke;
        zt_audit_body on;
        zt_mask_request_pattern credit_card;
        add_header X-ZT-Audit $zt_audit always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo "FORWARDED"; echo_request_body; }
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
    }
--- request eval
"POST /v1/chat\n$::Prompt"
--- more_headers eval
"Authorization: Bearer $::Alice\nContent-Type: application/json"
--- error_code: 202
--- response_headers_like
X-ZT-Audit: .*"decision":"approve".*"masked_request":1.*
--- response_body_like: "status":"pending"



=== TEST 2: the reviewer reads the body as it would go on: masked, hashed as such
--- request
GET /zt/approvals/%%id%%
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like eval
my $m = quotemeta($::Masked =~ s/"/\\"/gr);
qr/(?=.*"body":"$m")(?=.*"body_sha256":"$::MaskedSha")/
--- response_body_unlike: 4111



=== TEST 3: the reviewer approves
--- request
POST /zt/approvals/%%id%%/approve
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200



=== TEST 4: the approved retry, judged again as sent, is forwarded masked and consumes the approval
--- request eval
"POST /v1/chat\n$::Prompt"
--- more_headers eval
"Authorization: Bearer $::Alice\nContent-Type: application/json\nX-ZT-Approval: %%id%%"
--- error_code: 200
--- response_body eval
"FORWARDED\n$::Masked"
--- response_headers_like
X-ZT-Audit: .*"decision":"allow".*"event":"approval.consume".*"masked_request":1.*
