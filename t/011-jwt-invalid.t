# Identity: tokens that must be refused (docs/reference.md).  Each one gets
# 401 with the RFC 6750 challenge naming the reason, the JSON error body,
# an info line "zt: invalid token: <reason>, fp=<16 hex>" in the error log
# (never the token itself), and the backend never sees the request.
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
});

my $now = time;

# the same token with the last byte of its signature cut off
sub short_sig {
    my ($h, $p, $s) = split /\./, shift;
    my $sig = ZT::Token::unb64($s);

    return "$h.$p." . ZT::Token::b64(substr($sig, 0, length($sig) - 1));
}

our %T = (
    none        => ZT::Token::unsigned(),
    none_nokid  => ZT::Token::unsigned(kid => undef),
    none_case   => ZT::Token::b64('{"alg":"None","typ":"JWT"}') . '.'
                   . (split /\./, ZT::Token::unsigned())[1] . '.',
    confused    => ZT::Token::confused(),
    confused_kid => ZT::Token::confused(kid => 'rsa1'),
    confused_hs => ZT::Token::confused(kid => 'hs1'),
    es384       => ZT::Token::mint(key => 'ec384'),
    hs256       => ZT::Token::mint(key => 'hs1', alg => 'HS256'),
    unknown_alg => ZT::Token::raw(header => '{"alg":"RS257","kid":"rsa1"}',
                                  payload => '{}', alg => 'RS256'),
    no_alg      => ZT::Token::raw(header => '{"typ":"JWT","kid":"rsa1"}',
                                  payload => '{}', alg => 'RS256'),
    unknown_kid => ZT::Token::mint(kid => 'nope'),
    rotated     => ZT::Token::mint(key => 'rsa1'),
    wrong_key   => ZT::Token::mint(key => 'rsa2', kid => 'rsa1'),
    wrong_secret => ZT::Token::mint(secret => 'x' x 48, alg => 'HS256',
                                    kid => 'hs1'),
    kid_number  => ZT::Token::mint(kid => 7),
    es_as_rs    => ZT::Token::mint(key => 'ec1', alg => 'ES256', kid => 'rsa1'),
    es384_ec1   => ZT::Token::mint(key => 'ec384', kid => 'ec1'),
    expired     => ZT::Token::mint(exp_in => -120),
    leeway_out  => ZT::Token::mint(exp_in => -60),
    nbf_future  => ZT::Token::mint(claims => { nbf => $now + 600 }),
    iat_future  => ZT::Token::mint(claims => { iat => $now + 600 }),
    no_exp      => ZT::Token::mint(claims => { exp => undef }),
    exp_string  => ZT::Token::mint(claims => { exp => "" . ($now + 300) }),
    wrong_iss   => ZT::Token::mint(claims => { iss => 'https://evil.test' }),
    no_iss      => ZT::Token::mint(claims => { iss => undef }),
    wrong_aud   => ZT::Token::mint(claims => { aud => 'other' }),
    wrong_auds  => ZT::Token::mint(claims => { aud => ['a', 'b'] }),
    no_aud      => ZT::Token::mint(claims => { aud => undef }),
    sub_number  => ZT::Token::mint(claims => { sub => 42 }),
    flipped     => ZT::Token::flip_sig(ZT::Token::mint()),
    flipped_es  => ZT::Token::flip_sig(ZT::Token::mint(key => 'ec1')),
    short_es    => short_sig(ZT::Token::mint(key => 'ec1')),
    two         => ZT::Token::two_segments(ZT::Token::mint()),
    four        => ZT::Token::mint() . '.e30',
    bad_b64     => ZT::Token::bad_b64(ZT::Token::mint()),
    padded      => ZT::Token::mint() =~ s/^([^.]+)/$1=/r,
    hdr_text    => ZT::Token::raw(header => 'not json', payload => '{}'),
    hdr_array   => ZT::Token::raw(header => '["RS256"]', payload => '{}'),
    hdr_dup     => ZT::Token::raw(header => '{"alg":"RS256","alg":"none",'
                                            . '"kid":"rsa1"}',
                                  payload => '{}'),
    body_text   => ZT::Token::mint(payload => 'not json'),
    body_array  => ZT::Token::mint(payload => '[1,2]'),
    huge        => ZT::Token::huge(size => 9000),
    crit        => ZT::Token::mint(header => { crit => ['exp'], exp => 1 }),
    typ_jwe     => ZT::Token::mint(header => { typ => 'JWE' }),
    valid       => ZT::Token::mint(),
);

# "401 with this reason" for --- response_headers and --- response_body
sub challenge {
    return qq{WWW-Authenticate: Bearer realm="zt", error="invalid_token", }
         . qq{error_description="$_[0]"\n};
}

sub body {
    return qq({"error":{"type":"invalid_request_error","code":"invalid_token",)
         . qq("message":"$_[0]"}}\n);
}

sub logged {
    my ($reason, $token) = @_;
    return "zt: invalid token: $reason, fp=" . ZT::Token::fp($token);
}

run_tests();

__DATA__

=== TEST 1: alg none is refused
--- more_headers eval
"Authorization: Bearer $::T{none}"
--- error_code: 401
--- response_headers eval
main::challenge("alg none is not allowed")
--- response_body eval
main::body("alg none is not allowed")
--- error_log eval
main::logged("alg none is not allowed", $::T{none})



=== TEST 2: alg none without a kid is refused all the same
--- more_headers eval
"Authorization: Bearer $::T{none_nokid}"
--- error_code: 401
--- response_headers eval
main::challenge("alg none is not allowed")
--- response_body eval
main::body("alg none is not allowed")



=== TEST 3: alg "None" (any case) is refused as none
--- more_headers eval
"Authorization: Bearer $::T{none_case}"
--- error_code: 401
--- response_body eval
main::body("alg none is not allowed")



=== TEST 4: HS256 signed with the RSA public key PEM (no oct key configured) is refused
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/rsa1.pub.pem;
        zt_algorithms RS256 HS256;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{confused}"
--- error_code: 401
--- response_headers eval
main::challenge("no key for alg")
--- response_body eval
main::body("no key for alg")
--- error_log eval
main::logged("no key for alg", $::T{confused})



=== TEST 5: HS256 signed with the RSA public key PEM and kid rsa1 is refused: the RSA key never serves HMAC
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS256 HS256;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{confused_kid}"
--- error_code: 401
--- response_headers eval
main::challenge("key does not match alg")
--- response_body eval
main::body("key does not match alg")



=== TEST 6: HS256 signed with the RSA public key PEM against the oct key hs1 fails its signature
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS256 HS256;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{confused_hs}"
--- error_code: 401
--- response_body eval
main::body("invalid signature")



=== TEST 7: HS256 is refused when not in zt_algorithms (the default is RS256 ES256)
--- more_headers eval
"Authorization: Bearer $::T{hs256}"
--- error_code: 401
--- response_headers eval
main::challenge("alg HS256 is not allowed")
--- response_body eval
main::body("alg HS256 is not allowed")
--- error_log eval
main::logged("alg HS256 is not allowed", $::T{hs256})



=== TEST 8: a valid ES384 token is refused when ES384 is not in the list
--- more_headers eval
"Authorization: Bearer $::T{es384}"
--- error_code: 401
--- response_headers eval
main::challenge("alg ES384 is not allowed")
--- response_body eval
main::body("alg ES384 is not allowed")



=== TEST 9: an alg the module does not know is refused
--- more_headers eval
"Authorization: Bearer $::T{unknown_alg}"
--- error_code: 401
--- response_body eval
main::body("unsupported alg")



=== TEST 10: a header without alg is refused
--- more_headers eval
"Authorization: Bearer $::T{no_alg}"
--- error_code: 401
--- response_body eval
main::body("missing alg")



=== TEST 11: an unknown kid is refused
--- more_headers eval
"Authorization: Bearer $::T{unknown_kid}"
--- error_code: 401
--- response_headers eval
main::challenge("unknown kid")
--- response_body eval
main::body("unknown kid")
--- error_log eval
main::logged("unknown kid", $::T{unknown_kid})



=== TEST 12: a rotated-out kid (rsa1, the JWKS now holds rsa2) is refused
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks-rotated.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{rotated}"
--- error_code: 401
--- response_headers eval
main::challenge("unknown kid")
--- response_body eval
main::body("unknown kid")



=== TEST 13: a kid that is not a string is refused
--- more_headers eval
"Authorization: Bearer $::T{kid_number}"
--- error_code: 401
--- response_body eval
main::body("malformed token: kid is not a string")



=== TEST 14: ES256 claiming the RSA key's kid is refused before any signature check
--- more_headers eval
"Authorization: Bearer $::T{es_as_rs}"
--- error_code: 401
--- response_body eval
main::body("key does not match alg")



=== TEST 15: ES384 claiming the P-256 key's kid is refused (the curve must fit the alg)
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms ES256 ES384;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{es384_ec1}"
--- error_code: 401
--- response_body eval
main::body("key does not match alg")



=== TEST 16: signed by rsa2 but claiming kid rsa1: bad signature
--- more_headers eval
"Authorization: Bearer $::T{wrong_key}"
--- error_code: 401
--- response_headers eval
main::challenge("invalid signature")
--- response_body eval
main::body("invalid signature")



=== TEST 17: HS256 with another secret than hs1: bad signature
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms HS256;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{wrong_secret}"
--- error_code: 401
--- response_body eval
main::body("invalid signature")



=== TEST 18: one flipped bit in an RS256 signature is refused
--- more_headers eval
"Authorization: Bearer $::T{flipped}"
--- error_code: 401
--- response_headers eval
main::challenge("invalid signature")
--- response_body eval
main::body("invalid signature")
--- error_log eval
main::logged("invalid signature", $::T{flipped})



=== TEST 19: one flipped bit in an ES256 signature is refused
--- more_headers eval
"Authorization: Bearer $::T{flipped_es}"
--- error_code: 401
--- response_body eval
main::body("invalid signature")



=== TEST 20: an ES256 signature of the wrong length is refused
--- more_headers eval
"Authorization: Bearer $::T{short_es}"
--- error_code: 401
--- response_body eval
main::body("invalid signature")



=== TEST 21: an expired token is refused
--- more_headers eval
"Authorization: Bearer $::T{expired}"
--- error_code: 401
--- response_headers eval
main::challenge("token expired")
--- response_body eval
main::body("token expired")
--- error_log eval
main::logged("token expired", $::T{expired})



=== TEST 22: expired by more than zt_leeway (60s of 30s) is refused
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_leeway 30s;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{leeway_out}"
--- error_code: 401
--- response_body eval
main::body("token expired")



=== TEST 23: zt_leeway 0: a token expired 60s ago is refused
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_leeway 0;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{leeway_out}"
--- error_code: 401
--- response_body eval
main::body("token expired")



=== TEST 24: nbf in the future (beyond the leeway) is refused
--- more_headers eval
"Authorization: Bearer $::T{nbf_future}"
--- error_code: 401
--- response_headers eval
main::challenge("token not yet valid")
--- response_body eval
main::body("token not yet valid")



=== TEST 25: iat in the future (beyond the leeway) is refused
--- more_headers eval
"Authorization: Bearer $::T{iat_future}"
--- error_code: 401
--- response_body eval
main::body("token issued in the future")



=== TEST 26: a token without exp is refused
--- more_headers eval
"Authorization: Bearer $::T{no_exp}"
--- error_code: 401
--- response_headers eval
main::challenge("missing exp")
--- response_body eval
main::body("missing exp")
--- error_log eval
main::logged("missing exp", $::T{no_exp})



=== TEST 27: an exp that is a string, not a number, is refused
--- more_headers eval
"Authorization: Bearer $::T{exp_string}"
--- error_code: 401
--- response_body eval
main::body("malformed token: exp is not a number")



=== TEST 28: an iss outside zt_issuer is refused
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_issuer https://issuer.zt.test;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{wrong_iss}"
--- error_code: 401
--- response_headers eval
main::challenge("issuer not accepted")
--- response_body eval
main::body("issuer not accepted")



=== TEST 29: no iss at all is refused when zt_issuer is set
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_issuer https://issuer.zt.test;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{no_iss}"
--- error_code: 401
--- response_body eval
main::body("missing iss")



=== TEST 30: an aud outside zt_audience is refused
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_audience zt-gateway;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{wrong_aud}"
--- error_code: 401
--- response_headers eval
main::challenge("audience not accepted")
--- response_body eval
main::body("audience not accepted")



=== TEST 31: an aud array none of whose values is accepted is refused
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_audience zt-gateway;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{wrong_auds}"
--- error_code: 401
--- response_body eval
main::body("audience not accepted")



=== TEST 32: no aud at all is refused when zt_audience is set
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_audience zt-gateway;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{no_aud}"
--- error_code: 401
--- response_body eval
main::body("missing aud")



=== TEST 33: a sub that is not a string is refused
--- more_headers eval
"Authorization: Bearer $::T{sub_number}"
--- error_code: 401
--- response_body eval
main::body("malformed token: sub is not a string")



=== TEST 34: two segments are refused
--- more_headers eval
"Authorization: Bearer $::T{two}"
--- error_code: 401
--- response_headers eval
main::challenge("malformed token: expected 3 segments")
--- response_body eval
main::body("malformed token: expected 3 segments")
--- error_log eval
main::logged("malformed token: expected 3 segments", $::T{two})



=== TEST 35: four segments are refused
--- more_headers eval
"Authorization: Bearer $::T{four}"
--- error_code: 401
--- response_body eval
main::body("malformed token: expected 3 segments")



=== TEST 36: a character outside base64url is refused
--- more_headers eval
"Authorization: Bearer $::T{bad_b64}"
--- error_code: 401
--- response_headers eval
main::challenge("malformed token: bad base64url")
--- response_body eval
main::body("malformed token: bad base64url")



=== TEST 37: base64 padding is refused (JWS uses none)
--- more_headers eval
"Authorization: Bearer $::T{padded}"
--- error_code: 401
--- response_body eval
main::body("malformed token: bad base64url")



=== TEST 38: a header that is not JSON is refused
--- more_headers eval
"Authorization: Bearer $::T{hdr_text}"
--- error_code: 401
--- response_headers eval
main::challenge("malformed token: header is not a JSON object")
--- response_body eval
main::body("malformed token: header is not a JSON object")



=== TEST 39: a header that is a JSON array is refused
--- more_headers eval
"Authorization: Bearer $::T{hdr_array}"
--- error_code: 401
--- response_body eval
main::body("malformed token: header is not a JSON object")



=== TEST 40: a header with a duplicate member (alg twice) is refused
--- more_headers eval
"Authorization: Bearer $::T{hdr_dup}"
--- error_code: 401
--- response_body eval
main::body("malformed token: header is not a JSON object")



=== TEST 41: a validly signed payload that is not JSON is refused
--- more_headers eval
"Authorization: Bearer $::T{body_text}"
--- error_code: 401
--- response_headers eval
main::challenge("malformed token: payload is not a JSON object")
--- response_body eval
main::body("malformed token: payload is not a JSON object")



=== TEST 42: a validly signed payload that is a JSON array is refused
--- more_headers eval
"Authorization: Bearer $::T{body_array}"
--- error_code: 401
--- response_body eval
main::body("malformed token: payload is not a JSON object")



=== TEST 43: a token over 8 KiB is refused (even validly signed)
--- config
    large_client_header_buffers 4 32k;
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{huge}"
--- error_code: 401
--- response_headers eval
main::challenge("token too large")
--- response_body eval
main::body("token too large")
--- error_log eval
main::logged("token too large", $::T{huge})



=== TEST 44: a crit header is refused (the module understands no extension)
--- more_headers eval
"Authorization: Bearer $::T{crit}"
--- error_code: 401
--- response_headers eval
main::challenge("unsupported crit header")
--- response_body eval
main::body("unsupported crit header")



=== TEST 45: a typ other than JWT or at+jwt is refused
--- more_headers eval
"Authorization: Bearer $::T{typ_jwe}"
--- error_code: 401
--- response_body eval
main::body("unsupported typ")



=== TEST 46: a second Authorization header never reaches the backend (nginx answers 400 first)
--- more_headers eval
"Authorization: Bearer $::T{valid}\nAuthorization: Bearer $::T{valid}"
--- error_code: 400
--- response_body_unlike
backend saw



=== TEST 47: the Basic scheme is refused
--- more_headers
Authorization: Basic YWxpY2U6c2VjcmV0
--- error_code: 401
--- response_headers eval
main::challenge("unsupported authorization scheme")
--- response_body eval
main::body("unsupported authorization scheme")
--- error_log
zt: invalid token: unsupported authorization scheme



=== TEST 48: "Authorization: X" is refused
--- more_headers
Authorization: X
--- error_code: 401
--- response_headers eval
main::challenge("unsupported authorization scheme")
--- response_body eval
main::body("unsupported authorization scheme")



=== TEST 49: a scheme that only starts with Bearer is refused
--- more_headers eval
"Authorization: BearerX $::T{valid}"
--- error_code: 401
--- response_body eval
main::body("unsupported authorization scheme")



=== TEST 50: "Bearer" with nothing after it is refused
--- more_headers
Authorization: Bearer
--- error_code: 401
--- response_headers eval
main::challenge("missing bearer token")
--- response_body eval
main::body("missing bearer token")
--- error_log
zt: invalid token: missing bearer token



=== TEST 51: "Bearer" followed by spaces only is refused
--- more_headers eval
"Authorization: Bearer    "
--- error_code: 401
--- response_body eval
main::body("missing bearer token")



=== TEST 52: after a refused alg-none token, forged tokens on the same worker are still refused and a valid one passes
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $::T{none}",
 "Authorization: Bearer $::T{flipped}",
 "Authorization: Bearer $::T{none_nokid}",
 "Authorization: Bearer $::T{valid}"]
--- error_code eval
[401, 401, 401, 200]
--- response_body eval
[main::body("alg none is not allowed"),
 main::body("invalid signature"),
 main::body("alg none is not allowed"),
 "backend saw: []\n"]



=== TEST 53: a refused token never appears in the error log, only its fingerprint
--- more_headers eval
"Authorization: Bearer $::T{flipped}"
--- error_code: 401
--- error_log eval
"fp=" . ZT::Token::fp($::T{flipped})
--- no_error_log eval
[$::T{flipped}, (split /\./, $::T{flipped})[2]]



=== TEST 54: an expired token never appears in the error log
--- more_headers eval
"Authorization: Bearer $::T{expired}"
--- error_code: 401
--- no_error_log eval
[$::T{expired}, (split /\./, $::T{expired})[2]]



=== TEST 55: an oversized token never appears in the error log
--- config
    large_client_header_buffers 4 32k;
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::T{huge}"
--- error_code: 401
--- no_error_log eval
[(split /\./, $::T{huge})[2]]



=== TEST 56: a valid token never appears in the error log either
--- more_headers eval
"Authorization: Bearer $::T{valid}"
--- error_code: 200
--- no_error_log eval
[$::T{valid}, (split /\./, $::T{valid})[2]]
