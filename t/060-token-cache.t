# zt_token_cache: a verified token is kept in shared memory, so that its
# next use skips parsing and signature checks; never past its exp, evicted
# least recently used first, and bound to the settings it was verified for.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

our $TOKEN = ZT::Token::mint();
# the cached token's signature on a payload of the same length: the same
# length and the same last bytes as the token in the cache
our $FORGED = do {
    my ($h, $p, $sig) = split /\./, $TOKEN;
    (my $claims = ZT::Token::unb64($p)) =~ s/"alice"/"mallo"/ or die;
    my $f = "$h." . ZT::Token::b64($claims) . ".$sig";
    die "forged token differs in length" if length $f != length $TOKEN;
    $f;
};

our @POOL = map { ZT::Token::mint(claims => { jti => "t$_", pad => 'x' x 400 }) } 1 .. 60;

# two workers: every block also proves the zone is shared between them
master_on();
workers(2);

# a token that expires 2 s after its block starts, not after the file loads
add_block_preprocessor(sub {
    my $block = shift;
    return unless defined $block->short_token_headers;
    my $h = "Authorization: Bearer " . ZT::Token::mint(exp_in => 2);
    $block->set_value('more_headers', [$h, $h, "", $h]);
});

run_tests();

__DATA__

=== TEST 1: the second use of a token is a cache hit
--- http_config
    zt_token_cache zone=tokens:1m;
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        add_header X-Cache $zt_token_cache always;
        add_header X-Sub $zt_sub always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
"Authorization: Bearer $main::TOKEN"
--- error_code eval
[204, 204, 204]
--- response_headers eval
["X-Cache: MISS\nX-Sub: alice", "X-Cache: HIT\nX-Sub: alice", "X-Cache: HIT\nX-Sub: alice"]

=== TEST 2: a cached identity still decides by the policy: scopes come from the cache
--- http_config
    zt_token_cache zone=tokens:1m;
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        add_header X-Cache $zt_token_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /admin {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=admin;
        add_header X-Cache $zt_token_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
--- request eval
["GET /t", "GET /t", "GET /admin"]
--- more_headers eval
"Authorization: Bearer $main::TOKEN"
--- error_code eval
[204, 204, 403]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: MISS"]

=== TEST 3: a token verified for one issuer is no proof for a location that wants another
--- http_config
    zt_token_cache zone=tokens:1m;
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /strict {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_issuer https://other.issuer.test;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
--- request eval
["GET /t", "GET /t", "GET /strict"]
--- more_headers eval
"Authorization: Bearer $main::TOKEN"
--- error_code eval
[204, 204, 401]

=== TEST 4: a cached token is refused once its exp has passed
--- http_config
    zt_token_cache zone=tokens:1m;
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_leeway 0;
        zt_policy allow scope=inference:invoke;
        add_header X-Cache $zt_token_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /sleep { echo_sleep 3; echo slept; }
--- request eval
["GET /t", "GET /t", "GET /sleep", "GET /t"]
--- short_token_headers
--- error_code eval
[204, 204, 200, 401]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "", "X-Cache: MISS"]
--- response_body_like eval
["", "", "slept", "token expired"]
--- timeout: 6

=== TEST 5: max_ttl ends an entry before the token's exp
--- http_config
    zt_token_cache zone=tokens:1m max_ttl=1s;
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        add_header X-Cache $zt_token_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /sleep { echo_sleep 2; echo slept; }
--- request eval
["GET /t", "GET /t", "GET /sleep", "GET /t"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", "Authorization: Bearer $main::TOKEN", "", "Authorization: Bearer $main::TOKEN"]
--- error_code eval
[204, 204, 200, 204]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "", "X-Cache: MISS"]
--- timeout: 5

=== TEST 6: a full zone evicts the least recently used token
--- http_config
    zt_token_cache zone=tokens:32k;
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        add_header X-Cache $zt_token_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
--- request eval
[ map("GET /t", @main::POOL), "GET /t", "GET /t" ]
--- more_headers eval
[ map("Authorization: Bearer $_", @main::POOL),
  "Authorization: Bearer $main::POOL[-1]",
  "Authorization: Bearer $main::POOL[0]" ]
--- error_code eval
[ map(204, @main::POOL), 204, 204 ]
--- response_headers eval
[ map("X-Cache: MISS", @main::POOL), "X-Cache: HIT", "X-Cache: MISS" ]

=== TEST 7: the cache is shared by the two workers
--- http_config
    zt_token_cache zone=tokens:1m;
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        add_header X-Cache $zt_token_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
--- request eval
[ map("GET /t", 1 .. 8) ]
--- more_headers eval
"Authorization: Bearer $main::TOKEN"
--- error_code eval
[ map(204, 1 .. 8) ]
--- response_headers eval
[ "X-Cache: MISS", map("X-Cache: HIT", 2 .. 8) ]

=== TEST 8: a bad zt_token_cache zone stops nginx -t
--- http_config
    zt_token_cache zone=tokens;
--- config
--- must_die
--- error_log
zt_token_cache: invalid zone "zone=tokens", expected zone=NAME:SIZE

=== TEST 9: a cached token's signature on another payload is verified, and refused
--- http_config
    zt_token_cache zone=tokens:1m;
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        add_header X-Cache $zt_token_cache always;
        add_header X-Sub $zt_sub always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", "Authorization: Bearer $main::TOKEN",
 "Authorization: Bearer $main::FORGED", "Authorization: Bearer $main::TOKEN"]
--- error_code eval
[204, 204, 401, 204]
--- response_headers eval
["X-Cache: MISS\nX-Sub: alice", "X-Cache: HIT\nX-Sub: alice",
 "X-Cache: MISS\nX-Sub:", "X-Cache: HIT\nX-Sub: alice"]
--- response_body_like eval
["", "", "invalid signature", ""]

=== TEST 10: one token cached under four settings is found under each, with each's claims
--- http_config
    zt_token_cache zone=tokens:1m;
--- config
    location = /ok { return 204; }
    location /s/ {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        add_header X-Cache $zt_token_cache always;
        add_header X-Scopes $zt_scopes always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;

        location = /s/a { proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok; }
        location = /s/b {
            zt_issuer https://issuer.zt.test;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
        }
        location = /s/c {
            zt_audience zt-gateway;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
        }
        location = /s/d {
            zt_scope_claim roles;
            zt_policy allow scope=admin;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
        }
    }
--- request eval
["GET /s/a", "GET /s/b", "GET /s/c", "GET /s/d",
 "GET /s/d", "GET /s/c", "GET /s/b", "GET /s/a"]
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { roles => ["admin"] })
--- error_code eval
[204, 204, 204, 204, 204, 204, 204, 204]
--- response_headers eval
["X-Cache: MISS\nX-Scopes: inference:invoke",
 "X-Cache: MISS\nX-Scopes: inference:invoke",
 "X-Cache: MISS\nX-Scopes: inference:invoke",
 "X-Cache: MISS\nX-Scopes: admin",
 "X-Cache: HIT\nX-Scopes: admin",
 "X-Cache: HIT\nX-Scopes: inference:invoke",
 "X-Cache: HIT\nX-Scopes: inference:invoke",
 "X-Cache: HIT\nX-Scopes: inference:invoke"]
