# DPoP htu (RFC 9449, 4.3): the proof's htu must name the request's URI,
# query and fragment left out, compared after RFC 3986 normalization
# (scheme and host case, default port, percent-encoding, dot segments).
# What normalizes to the same URI passes; anything else (another port,
# a trailing slash, an encoded slash, path case, user info) is refused.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::DPoP;

log_level('info');
no_shuffle();

our $Backend = <<'_EOC_';
    location /backend {
        echo "backend saw: $http_x_uri";
    }
_EOC_

our $Location = <<'_EOC_';
    location /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_set_header X-Uri $request_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    my $config = defined $block->config ? $block->config : $Location;
    $block->set_value('config', $config . $Backend);

    $block->set_value('request', "GET /t\n") unless defined $block->request;
});

our $Token = ZT::DPoP::token();

# headers for a DPoP call whose proof names htu
sub htu {
    my ($htu, $more) = @_;
    return ZT::DPoP::headers($Token, ZT::DPoP::proof(token => $Token,
                                                     htu => $htu))
           . ($more // '');
}

our $Refused = qq{WWW-Authenticate: Bearer realm="zt", DPoP realm="zt", }
             . qq{error="invalid_dpop_proof", error_description="DPoP proof }
             . qq{htu does not match the request", algs="RS256 ES256"\n};

run_tests();

__DATA__

=== TEST 1: the plain URL passes
--- more_headers eval
::htu('http://localhost/t')
--- error_code: 200
--- response_body
backend saw: /t



=== TEST 2: the default port written out (:80) is the same URL
--- more_headers eval
::htu('http://localhost:80/t')
--- error_code: 200



=== TEST 3: an empty port (localhost:) is the default port
--- more_headers eval
::htu('http://localhost:/t')
--- error_code: 200



=== TEST 4: a Host header with a port: htu must carry that port
--- more_headers eval
::htu('http://localhost:8080/t', "Host: localhost:8080\n")
--- error_code: 200



=== TEST 5: a Host header with a port: htu without it is another URL
--- more_headers eval
::htu('http://localhost/t', "Host: localhost:8080\n")
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 6: a Host header with the default port: htu without a port passes
--- more_headers eval
::htu('http://localhost/t', "Host: localhost:80\n")
--- error_code: 200



=== TEST 7: scheme and host in upper case
--- more_headers eval
::htu('HTTP://LocalHost/t')
--- error_code: 200



=== TEST 8: the Host header in upper case
--- more_headers eval
::htu('http://localhost/t', "Host: LOCALHOST\n")
--- error_code: 200



=== TEST 9: the path is case-sensitive: /T is not /t
--- more_headers eval
::htu('http://localhost/T')
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 10: a trailing slash is another path
--- more_headers eval
::htu('http://localhost/t/')
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 11: a request with a trailing slash, htu without it
--- request
GET /t/
--- more_headers eval
::htu('http://localhost/t')
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 12: an unreserved character percent-encoded (%74 is t) in htu
--- more_headers eval
::htu('http://localhost/%74')
--- error_code: 200



=== TEST 13: an unreserved character percent-encoded in the request, plain in htu
--- request
GET /%74/x
--- more_headers eval
::htu('http://localhost/t/x')
--- error_code: 200
--- response_body
backend saw: /%74/x



=== TEST 14: the hex digits of an escape in either case (%2f and %2F)
--- request
GET /t/a%2fb
--- more_headers eval
::htu('http://localhost/t/a%2Fb')
--- error_code: 200



=== TEST 15: an encoded slash is not a slash
--- request
GET /t/a%2Fb
--- more_headers eval
::htu('http://localhost/t/a/b')
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 16: a bad escape in htu
--- more_headers eval
::htu('http://localhost/t%zz')
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 17: dot segments in htu are removed
--- more_headers eval
::htu('http://localhost/x/../t/./y/..')
--- error_code: 401



=== TEST 18: dot segments resolving to the request's path pass
--- request
GET /t/y
--- more_headers eval
::htu('http://localhost/x/../t/./z/../y')
--- error_code: 200



=== TEST 19: the query of htu is ignored, and so is the request's
--- request
GET /t?y=2
--- more_headers eval
::htu('http://localhost/t?x=1')
--- error_code: 200
--- response_body
backend saw: /t?y=2



=== TEST 20: a request with a query, htu without one
--- request
GET /t?model=llama
--- more_headers eval
::htu('http://localhost/t')
--- error_code: 200



=== TEST 21: the fragment of htu is ignored
--- more_headers eval
::htu('http://localhost/t#frag')
--- error_code: 200



=== TEST 22: a query does not hide another path
--- request
GET /t?x=/other
--- more_headers eval
::htu('http://localhost/other')
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 23: user info in htu is refused
--- more_headers eval
::htu('http://user@localhost/t')
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 24: a relative htu is refused
--- more_headers eval
::htu('/t')
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 25: another scheme (ftp) is refused
--- more_headers eval
::htu('ftp://localhost/t')
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 26: an IPv6 literal host
--- more_headers eval
::htu('http://[::1]:8080/t', "Host: [::1]:8080\n")
--- error_code: 200



=== TEST 27: origin= fixes the origin: htu of the public URL passes whatever the Host header
--- config
    location /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional origin=https://api.example.com origin=https://API.example.net:8443/;
        zt_policy allow scope=inference:invoke;
        proxy_set_header X-Uri $request_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[::htu('https://api.example.com:443/t', "Host: internal\n"),
 ::htu('https://api.example.net:8443/t'),
 ::htu('https://api.example.net/t')]
--- error_code eval
[200, 200, 401]



=== TEST 28: origin= set: htu naming the Host header's origin is refused
--- config
    location /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional origin=https://api.example.com;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
::htu('http://localhost/t')
--- error_code: 401
--- response_headers eval
$::Refused



=== TEST 29: origin= set: the path must still be the request's
--- config
    location /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional origin=https://api.example.com;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- request
GET /t/a
--- more_headers eval
::htu('https://api.example.com/t/b')
--- error_code: 401
--- response_headers eval
$::Refused
