# zt_policy in the configuration: inheritance (server rules, a location's
# own rules replacing them, zt_policy off) and the errors nginx -t gives
# for rules it cannot use.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('request', "GET /t\n") unless defined $block->request;
});

run_tests();

__DATA__

=== TEST 1: rules at server level apply to a location without its own
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_policy allow scope=a;
    location = /t {
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'a' })
--- error_code: 200
--- response_body
ok



=== TEST 2: rules at server level deny in a location without its own
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_policy allow scope=a;
    location = /t {
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'b' })
--- error_code: 403
--- response_body_unlike
ok



=== TEST 3: a location's own rules replace the server's (its rule allows)
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_policy allow scope=a;
    location = /t {
        zt_policy allow scope=b;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'b' })
--- error_code: 200
--- response_body
ok



=== TEST 4: a location's own rules replace the server's (the server's rule is gone)
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_policy allow scope=a;
    location = /t {
        zt_policy allow scope=b;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'a' })
--- error_code: 403
--- response_body_unlike
ok



=== TEST 5: rules at http level reach the locations of a server
--- http_config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_policy allow group=ops;
--- config
    location = /t {
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { groups => ['ops'] })
--- error_code: 200
--- response_body
ok



=== TEST 6: zt_policy off in a nested location lets requests through without a token
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_policy allow scope=a;
    location /t {
        location = /t {
            zt_policy off;
            echo healthy;
        }
    }
--- error_code: 200
--- response_body
healthy



=== TEST 7: next to a location with zt_policy off, the server's rules still hold
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_policy allow scope=a;
    location = /health {
        zt_policy off;
        echo healthy;
    }
    location = /t {
        echo ok;
    }
--- error_code: 401
--- response_body_unlike
ok



=== TEST 8: rules in a location nested in one with zt_policy off are on
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location /t {
        zt_policy off;
        location = /t {
            zt_policy allow scope=a;
            echo ok;
        }
    }
--- error_code: 401
--- response_body_unlike
ok



=== TEST 9: nginx -t: a regex that does not compile
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy deny "body~(unclosed";
        echo ok;
    }
--- must_die
--- error_log
invalid regex "(unclosed"



=== TEST 10: nginx -t: an unknown condition
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow scope=a foo=bar;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: unknown condition "foo=bar"



=== TEST 11: nginx -t: an unknown action
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy permit scope=a;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: unknown action "permit"



=== TEST 12: nginx -t: a JSON path that does not start with $
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow json:model=x;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: invalid JSON path "model" in "json:model=x": must start with "$" at offset 0



=== TEST 13: nginx -t: a JSON path with a bad bracket
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow json:$.messages[x].role=system;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: invalid JSON path "$.messages[x].role" in "json:$.messages[x].role=system": expected an index, "*" or a quoted name after "[" at offset 11



=== TEST 14: nginx -t: a JSON condition without an operator
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow json:$.model;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: expected "=" or "~" after the JSON path in "json:$.model"



=== TEST 15: nginx -t: zt_policy off after rules in the same location
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow scope=a;
        zt_policy off;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: "off" together with rules in the same block



=== TEST 16: nginx -t: rules after zt_policy off in the same location
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy off;
        zt_policy allow scope=a;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: rules together with "off" in the same block



=== TEST 17: nginx -t: a condition with an empty value
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow scope=;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: empty value in "scope="



=== TEST 18: nginx -t: a method in lower case would never match
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy deny method=delete;
        zt_policy allow;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: method must be in upper case letters (methods are case-sensitive) in "method=delete"



=== TEST 19: nginx -t: a claim name with an empty part
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy allow claim.realm_access..role=x;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: invalid claim name in "claim.realm_access..role=x"



=== TEST 20: nginx -t: "off" takes nothing after it
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    location = /t {
        zt_policy off scope=a;
        echo ok;
    }
--- must_die
--- error_log
zt_policy: "off" takes no conditions
