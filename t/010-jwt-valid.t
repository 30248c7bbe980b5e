# Identity: tokens that must be accepted (docs/reference.md).  Tokens are
# minted by Crypt::JWT (t/inc/ZT/Token.pm) with the keys of t/data; the
# backend echoes what it saw, so a 200 with its body proves the request
# went through.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

# at debug level nginx itself logs request headers; the module never does
log_level('info');
no_shuffle();

our $Backend = <<'_EOC_';
    location = /backend {
        echo "backend saw: [$http_authorization]";
    }
_EOC_

our $Location = <<'_EOC_';
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    my $config = defined $block->config ? $block->config : $Location;
    $block->set_value('config', $config . $Backend);

    $block->set_value('request', "GET /t\n") unless defined $block->request;

    # --- fresh_token: NAME  a token that is only good for seconds, minted
    # as its block starts: a slow runner takes seconds a block
    my $fresh = $block->fresh_token;
    $block->set_value('more_headers',
                      "Authorization: Bearer " . $main::Fresh{$fresh}->())
        if defined $fresh;
});

our %Fresh = (
    leeway_in  => sub { ZT::Token::mint(exp_in => -10) },
);

our %T = (
    rs256      => ZT::Token::mint(key => 'rsa1'),
    es256      => ZT::Token::mint(key => 'ec1'),
    es384      => ZT::Token::mint(key => 'ec384'),
    es512      => ZT::Token::mint(key => 'ec521'),
    hs256      => ZT::Token::mint(key => 'hs1', alg => 'HS256'),
    ps256      => ZT::Token::mint(key => 'rsa1', alg => 'PS256'),
    rs512      => ZT::Token::mint(key => 'rsa1', alg => 'RS512'),
    rsa2       => ZT::Token::mint(key => 'rsa2'),
    nokid_rsa  => ZT::Token::mint(key => 'rsa1', kid => undef),
    nokid_ec   => ZT::Token::mint(key => 'ec1', kid => undef),
    at_jwt     => ZT::Token::mint(header => { typ => 'at+jwt' }),
    app_at_jwt => ZT::Token::mint(header => { typ => 'application/at+jwt' }),
    no_typ     => ZT::Token::mint(header => { typ => undef }),
    nbf_in     => ZT::Token::mint(claims => { nbf => time + 10 }),
    aud_array  => ZT::Token::mint(claims => { aud => ['other', 'zt-gateway'] }),
    scopes     => ZT::Token::mint(claims => { scope => 'a inference:invoke b' }),
    scp_array  => ZT::Token::mint(claims => { scope => undef,
                                              scp => ['models:large'] }),
    scp_string => ZT::Token::mint(claims => { scope => undef,
                                              scp => 'x models:large' }),
    no_scope   => ZT::Token::mint(claims => { scope => 'models:small' }),
    perms      => ZT::Token::mint(claims => { scope => undef,
                                              permissions => ['models:large'] }),
    nested     => ZT::Token::mint(claims => { scope => undef,
                                              realm => { roles => 'models:large' } }),
    groups     => ZT::Token::mint(claims => { groups => ['staff', 'ml'] }),
    group_str  => ZT::Token::mint(claims => { groups => 'ml' }),
    roles      => ZT::Token::mint(claims => { roles => ['ml'] }),
    real_exp   => ZT::Token::mint(claims => { exp => time + 300.5 }),
);

run_tests();

__DATA__

=== TEST 1: RS256 with kid rsa1 from a JWKS passes and reaches the backend
--- more_headers eval
"Authorization: Bearer $::T{rs256}"
--- error_code: 200
--- response_body
backend saw: []
--- no_error_log
zt: invalid token



=== TEST 2: ES256 (P-256, kid ec1) passes
--- more_headers eval
"Authorization: Bearer $::T{es256}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 3: ES384 (P-384): the kid picks ec384 among the JWKS's keys
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms ES256 ES384;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{es384}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 4: ES512 (P-521) passes when listed
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks-es512.json;
        zt_algorithms ES512;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{es512}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 5: HS256 passes when listed in zt_algorithms, with the oct key hs1
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS256 ES256 ES384 HS256;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{hs256}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 6: PS256 (RSASSA-PSS) passes when listed
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms PS256;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{ps256}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 7: RS512 passes when listed
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS512;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{rs512}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 8: two zt_jwks_file: a key of the second file (rsa2) verifies
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks-rotated.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{rsa2}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 9: RS256 without kid: the only RSA key of the JWKS verifies it
--- more_headers eval
"Authorization: Bearer $::T{nokid_rsa}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 10: ES256 without kid: the only P-256 key verifies it (ec384 is not)
--- more_headers eval
"Authorization: Bearer $::T{nokid_ec}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 11: a PEM public key file verifies a token whatever its kid
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/rsa1.pub.pem;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{rs256}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 12: a PEM EC P-256 public key verifies ES256
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/ec1.pub.pem;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{es256}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 13: a PEM EC P-384 public key verifies ES384 (its curve is read from the PEM)
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/ec384.pub.pem;
        zt_algorithms ES384;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{es384}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 14: a file with a single JWK (no "keys" array) is a key set of one
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwk-ec1.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{es256}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 15: the scheme is case-insensitive: "bearer" passes
--- more_headers eval
"Authorization: bearer $::T{rs256}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 16: typ at+jwt (RFC 9068) passes
--- more_headers eval
"Authorization: Bearer $::T{at_jwt}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 17: typ application/at+jwt passes
--- more_headers eval
"Authorization: Bearer $::T{app_at_jwt}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 18: no typ at all passes
--- more_headers eval
"Authorization: Bearer $::T{no_typ}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 19: expired by less than zt_leeway (10s of 30s) passes
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_leeway 30s;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- fresh_token: leeway_in
--- error_code: 200
--- response_body
backend saw: []



=== TEST 20: nbf 10s ahead passes within the default leeway (30s)
--- more_headers eval
"Authorization: Bearer $::T{nbf_in}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 21: a fractional exp (NumericDate may be non-integer) passes
--- more_headers eval
"Authorization: Bearer $::T{real_exp}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 22: iss in zt_issuer and aud in zt_audience pass (any of several)
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_issuer https://other.test;
        zt_issuer https://issuer.zt.test;
        zt_audience zt-gateway;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{rs256}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 23: an aud array passes when one of its values is accepted
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_audience zt-gateway;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{aud_array}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 24: no Authorization header: 401 with the bare challenge, backend not reached
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt"
--- response_body_unlike
backend saw



=== TEST 25: scope is a space-separated string: each word is a scope
--- more_headers eval
"Authorization: Bearer $::T{scopes}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 26: a valid token without the scope the rule asks for is verified, then refused (403)
--- more_headers eval
"Authorization: Bearer $::T{no_scope}"
--- error_code: 403
--- response_body_unlike
backend saw
--- no_error_log
zt: invalid token



=== TEST 27: scp as an array is read as scopes
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=models:large;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{scp_array}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 28: scp as a space-separated string is read as scopes
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=models:large;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{scp_string}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 29: zt_scope_claim names another claim (an array)
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_scope_claim permissions;
        zt_policy allow scope=models:large;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{perms}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 30: zt_scope_claim may be a dotted path into nested claims
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_scope_claim realm.roles;
        zt_policy allow scope=models:large;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{nested}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 31: groups come from the groups claim (array)
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow group=ml;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{groups}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 32: a groups claim that is a single string is one group
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow group=ml;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{group_str}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 33: zt_groups_claim names another claim
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_groups_claim roles;
        zt_policy allow group=ml;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{roles}"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 34: several valid tokens in a row on one worker all pass
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $::T{es256}",
 "Authorization: Bearer $::T{rs256}",
 "Authorization: Bearer $::T{nokid_ec}"]
--- error_code eval
[200, 200, 200]
--- response_body eval
["backend saw: []\n", "backend saw: []\n", "backend saw: []\n"]
