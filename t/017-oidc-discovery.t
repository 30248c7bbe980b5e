# OpenID Connect discovery: zt_oidc_issuer ISSUER reads
# ISSUER/.well-known/openid-configuration through the zt_jwks_request
# location ($zt_jwks_url), checks that its issuer is ISSUER exactly, and
# fetches the jwks_uri it names; those keys verify only ISSUER's tokens.
#
# The identity provider is this nginx, under /idp/ (documents written by
# --- user_files); /idp-log shows what it was asked.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

log_level('info');
no_shuffle();
check_accum_error_log();

our $Port = $ENV{TEST_NGINX_PORT} || 1984;
our $ISS = "http://127.0.0.1:$Port/idp";

our $IdP = <<'_EOC_';
    location = /_zt_idp {
        internal;
        proxy_pass $zt_jwks_url;
    }
    location /idp/ {
        root html;
        access_log logs/idp.log idp;
    }
    location /admin/ {
        alias html/idp/;
        dav_methods PUT;
        access_log off;
    }
    location = /idp-log { default_type text/plain; alias logs/idp.log; }
    location = /errlog { default_type text/plain; alias logs/error.log; }
_EOC_

# the discovery document, with members given (undef: left out)
sub discovery {
    my (%m) = (issuer => $ISS, jwks_uri => "$ISS/keys.json", @_);
    delete $m{$_} for grep { !defined $m{$_} } keys %m;
    return JSON::PP->new->canonical->encode({
        %m, id_token_signing_alg_values_supported => ['RS256'] });
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $block->config . $IdP) if defined $block->config;

    $block->set_value('http_config', "    log_format idp '\$request_method \$uri';\n"
                      . ($block->http_config // ''));

    $block->set_value('user_files',
        ">>> idp/.well-known/openid-configuration\n" . discovery() . "\n"
        . ">>> idp/keys.json\n" . ZT::Token::jwks('rsa1') . "\n")
        unless defined $block->user_files;

    $block->set_value('request', "GET /t\n") unless defined $block->request;
});

sub bearer {
    my (%a) = @_;
    return "Authorization: Bearer " . ZT::Token::mint(
        key => 'rsa1', %a, claims => { iss => $ISS, %{ $a{claims} || {} } });
}

run_tests();

__DATA__

=== TEST 1: discovery, then the jwks_uri it names: the issuer's token passes
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
        zt_jwks_request /_zt_idp;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(), ""]
--- error_code eval
[200, 200]
--- response_body_like eval
["^ok alice\$", "\\AGET /idp/.well-known/openid-configuration\nGET /idp/keys.json\n\\z"]
--- error_log eval
qr/zt: key set of "\/_zt_idp \(http:\/\/127\.0\.0\.1:\d+\/idp\)" fetched: version 1, 1 key\(s\)/



=== TEST 2: the discovered keys are bound to the issuer: a token naming another issuer is refused, with no fetch
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
        zt_jwks_request /_zt_idp;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(), main::bearer(claims => { iss => 'https://evil.test' }), ""]
--- error_code eval
[200, 401, 200]
--- response_body_like eval
["^ok alice\$", '"message":"kid is bound to another issuer"',
 "\\AGET /idp/.well-known/openid-configuration\nGET /idp/keys.json\n\\z"]



=== TEST 3: a discovery document naming another issuer (a trailing slash) is refused: 503 until a good one
--- user_files eval
">>> idp/.well-known/openid-configuration\n" . main::discovery(issuer => "$::ISS/") . "\n"
. ">>> idp/keys.json\n" . ZT::Token::jwks('rsa1') . "\n"
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
        zt_jwks_request /_zt_idp;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(), ""]
--- error_code eval
[503, 200]
--- response_body_like eval
['"code":"keys_unavailable"', "\\AGET /idp/.well-known/openid-configuration\n\\z"]
--- error_log eval
[qr/\[error\] .*zt: the discovery document of "\/_zt_idp" names the issuer "http:\/\/127\.0\.0\.1:\d+\/idp\/", not "http:\/\/127\.0\.0\.1:\d+\/idp"/,
 qr/failed: the discovery document names another issuer; no key set yet/]



=== TEST 4: a discovery document of another host's issuer is refused
--- user_files eval
">>> idp/.well-known/openid-configuration\n" . main::discovery(issuer => "https://login.evil.test") . "\n"
. ">>> idp/keys.json\n" . ZT::Token::jwks('rsa1') . "\n"
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
        zt_jwks_request /_zt_idp;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- more_headers eval
main::bearer()
--- error_code: 503
--- error_log
names the issuer "https://login.evil.test"



=== TEST 5: a discovery document without jwks_uri is refused
--- user_files eval
">>> idp/.well-known/openid-configuration\n" . main::discovery(jwks_uri => undef) . "\n"
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
        zt_jwks_request /_zt_idp;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- more_headers eval
main::bearer()
--- error_code: 503
--- error_log
failed: the discovery document has no jwks_uri



=== TEST 6: a jwks_uri that is no http(s) URL is refused
--- user_files eval
">>> idp/.well-known/openid-configuration\n" . main::discovery(jwks_uri => "file:///etc/passwd") . "\n"
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
        zt_jwks_request /_zt_idp;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- more_headers eval
main::bearer()
--- error_code: 503
--- error_log
failed: the jwks_uri is not an http(s):// URL



=== TEST 7: a jwks_uri with a space (a header or request smuggled in) is refused
--- user_files eval
">>> idp/.well-known/openid-configuration\n"
. main::discovery(jwks_uri => "$::ISS/keys.json HTTP/1.1\r\nX-Evil: 1") . "\n"
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
        zt_jwks_request /_zt_idp;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- more_headers eval
main::bearer()
--- error_code: 503
--- error_log
failed: the jwks_uri has a space or a control character



=== TEST 8: a discovery document that is not JSON is refused
--- user_files
>>> idp/.well-known/openid-configuration
<html>not found</html>
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
        zt_jwks_request /_zt_idp;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- more_headers eval
main::bearer()
--- error_code: 503
--- error_log
failed: the discovery document is not a JSON object



=== TEST 9: rotation through discovery: an unknown kid fetches the known jwks_uri again, not the discovery document
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
        zt_jwks_request /_zt_idp min_refetch=0s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "PUT /admin/keys.json\n" . ZT::Token::jwks('rsa2'), "GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(), "", main::bearer(key => 'rsa2'), ""]
--- error_code eval
[200, 204, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\$", "^ok alice\$",
 "\\AGET /idp/.well-known/openid-configuration\nGET /idp/keys.json\nGET /idp/keys.json\n\\z"]



=== TEST 10: the jwks_uri may move: a failed key fetch looks the discovery document up again
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
        zt_jwks_request /_zt_idp min_refetch=0s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t",
 "PUT /admin/.well-known/openid-configuration\n" . main::discovery(jwks_uri => "$::ISS/moved.json"),
 "PUT /admin/keys.json\n{}",
 "PUT /admin/moved.json\n" . ZT::Token::jwks('rsa2'),
 "GET /t", "GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(), "", "", "", main::bearer(key => 'rsa2'), main::bearer(key => 'rsa2'), ""]
--- error_code eval
[200, 204, 204, 201, 401, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\$", "^\$", "^\$", '"message":"unknown kid"', "^ok alice\$",
 "\\AGET /idp/.well-known/openid-configuration\nGET /idp/keys.json\nGET /idp/keys.json\nGET /idp/.well-known/openid-configuration\nGET /idp/moved.json\n\\z"]



=== TEST 11: an issuer written with a trailing slash: no double slash before .well-known
--- user_files eval
">>> idp/.well-known/openid-configuration\n" . main::discovery(issuer => "$::ISS/") . "\n"
. ">>> idp/keys.json\n" . ZT::Token::jwks('rsa1') . "\n"
--- config
    location = /t {
        zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/;
        zt_jwks_request /_zt_idp;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(claims => { iss => "$::ISS/" }), ""]
--- error_code eval
[200, 200]
--- response_body_like eval
["^ok alice\$", "\\AGET /idp/.well-known/openid-configuration\nGET /idp/keys.json\n\\z"]



=== TEST 12: zt_oidc_issuer at server level pairs with the zt_jwks_request there and serves its locations
--- config
    zt_oidc_issuer http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp;
    zt_jwks_request /_zt_idp;
    location = /t {
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- more_headers eval
main::bearer()
--- error_code: 200
--- response_body
ok alice



=== TEST 13: $zt_jwks_url is empty outside a key set fetch
--- config
    location = /t {
        echo "[$zt_jwks_url]";
    }
--- response_body
[]



=== TEST 14: zt_oidc_issuer without a zt_jwks_request in its block stops nginx -t
--- config
    location = /t {
        zt_oidc_issuer https://login.example.com;
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=a;
        echo ok;
    }
--- must_die
--- error_log
"zt_oidc_issuer https://login.example.com" needs a "zt_jwks_request" in its block



=== TEST 15: zt_oidc_issuer with two zt_jwks_request in its block stops nginx -t
--- config
    location = /t {
        zt_jwks_request /_zt_a;
        zt_jwks_request /_zt_b;
        zt_oidc_issuer https://login.example.com;
        zt_policy allow scope=a;
        echo ok;
    }
--- must_die
--- error_log
"zt_oidc_issuer" needs exactly one "zt_jwks_request" in its block, not 2



=== TEST 16: zt_oidc_issuer and an issuer= of another issuer stop nginx -t
--- config
    location = /t {
        zt_oidc_issuer https://login.example.com;
        zt_jwks_request /_zt_a issuer=https://other.example.com;
        zt_policy allow scope=a;
        echo ok;
    }
--- must_die
--- error_log
"zt_jwks_request /_zt_a issuer=https://other.example.com" contradicts "zt_oidc_issuer https://login.example.com"



=== TEST 17: zt_oidc_issuer must be an http(s) URL
--- config
    location = /t {
        zt_oidc_issuer login.example.com;
        zt_jwks_request /_zt_a;
        zt_policy allow scope=a;
        echo ok;
    }
--- must_die
--- error_log
zt_oidc_issuer: "login.example.com" is not an https:// (or http://) URL
