# zt_policy: rule order and the identity conditions (scope, group, sub,
# claim.NAME, method); what a request no rule allows gets; approve rules.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use JSON::PP ();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('request', "GET /t\n") unless defined $block->request;
});

run_tests();

__DATA__

=== TEST 1: the first rule that holds decides (allow before a later deny)
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow scope=a;
        zt_policy deny  scope=b;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'a b' })
--- error_code: 200
--- response_body
ok
--- no_error_log
[error]



=== TEST 2: a deny before an allow wins, however the allow would hold
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy deny  scope=b;
        zt_policy allow scope=a;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'a b' })
--- error_code: 403
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="insufficient_scope"
--- response_body_unlike
ok



=== TEST 3: no rule holds: 403, insufficient_scope challenge, JSON error body
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow scope=models:large;
        zt_policy allow group=admins;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'inference:invoke' })
--- error_code: 403
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="insufficient_scope"
Content-Type: application/json
--- response_body_like chomp
^\{"error":\{"type":"[a-z_]+","code":"insufficient_scope","message":"[^"]+"\}\}$



=== TEST 4: scope= finds its scope in a space-separated scope string
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow scope=inference:invoke;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'models:list inference:invoke audit:read' })
--- error_code: 200
--- response_body
ok



=== TEST 5: scope= is a whole scope, never a prefix of a longer one
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow scope=inference:invoke;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'inference:invoke-all inference:invok' })
--- error_code: 403
--- response_body_unlike
ok



=== TEST 6: scope= reads an "scp" array claim
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow scope=models:large;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => undef, scp => ['models:list', 'models:large'] })
--- error_code: 200
--- response_body
ok



=== TEST 7: group= holds for a groups array that contains the group
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow group=admins;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { groups => ['ops', 'admins'] })
--- error_code: 200
--- response_body
ok



=== TEST 8: group= holds for a groups claim that is a single string
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow group=admins;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { groups => 'admins' })
--- error_code: 200
--- response_body
ok



=== TEST 9: group= does not hold for other groups
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow group=admins;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { groups => ['ops', 'admin', 'admins-readonly'] })
--- error_code: 403
--- response_body_unlike
ok



=== TEST 10: sub= holds for that subject
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow sub=alice;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { sub => 'alice' })
--- error_code: 200
--- response_body
ok



=== TEST 11: sub= does not hold for another subject
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow sub=alice;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { sub => 'alice2' })
--- error_code: 403
--- response_body_unlike
ok



=== TEST 12: claim.a.b= walks nested claims
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow claim.realm_access.role=reviewer;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { realm_access => { role => 'reviewer' } })
--- error_code: 200
--- response_body
ok



=== TEST 13: claim.a.b= does not hold for another nested value
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow claim.realm_access.role=reviewer;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { realm_access => { role => 'user' }, role => 'reviewer' })
--- error_code: 403
--- response_body_unlike
ok



=== TEST 14: claim.NAME= holds when an array claim contains the value
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow claim.realm_access.roles=reviewer;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { realm_access => { roles => ['user', 'reviewer'] } })
--- error_code: 200
--- response_body
ok



=== TEST 15: claim.NAME= compares numbers and booleans by their JSON text
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow claim.tier=3 claim.mfa=true;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { tier => 3, mfa => JSON::PP::true() })
--- error_code: 200
--- response_body
ok



=== TEST 16: claim.NAME=3 does not hold for the number 4
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow claim.tier=3;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { tier => 4 })
--- error_code: 403
--- response_body_unlike
ok



=== TEST 17: claim.NAME= finds a claim whose own name has dots
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow claim.https://zt.test/tenant=acme;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { 'https://zt.test/tenant' => 'acme' })
--- error_code: 200
--- response_body
ok



=== TEST 18: method= holds for that method
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow method=POST;
        echo ok;
    }
--- request
POST /t
hello
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint()
--- error_code: 200
--- response_body
ok



=== TEST 19: method= does not hold for another method
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow method=POST;
        echo ok;
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint()
--- error_code: 403
--- response_body_unlike
ok



=== TEST 20: all conditions of a rule must hold
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow scope=inference:invoke group=admins method=GET;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'inference:invoke', groups => ['ops'] })
--- error_code: 403
--- response_body_unlike
ok



=== TEST 21: a rule without conditions holds for any verified caller
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => undef })
--- error_code: 200
--- response_body
ok



=== TEST 22: a rule without conditions still needs a token
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow;
        echo ok;
    }
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt"
--- response_body_unlike
ok



=== TEST 23: an approve rule that holds never lets the request through (Redis down: 503)
--- http_config
    zt_redis 127.0.0.1:1 timeout=200ms;
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy approve scope=inference:invoke;
        zt_policy allow   scope=inference:invoke;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint()
--- error_code: 503
--- response_body_unlike
ok



=== TEST 24: a rule that fails on a scope alone does not stop later rules
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy deny  scope=suspended;
        zt_policy allow scope=models:large method=POST;
        zt_policy allow scope=inference:invoke;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'inference:invoke' })
--- error_code: 200
--- response_body
ok
