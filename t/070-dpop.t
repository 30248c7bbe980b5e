# DPoP (RFC 9449): `Authorization: DPoP <token>` with a DPoP proof.  A good
# proof passes; every check of a proof is failed on its own by a proof
# that is right in every other way, and gets 401 with the DPoP challenge
# (error="invalid_dpop_proof", or invalid_token when the token is at
# fault), the JSON body, an info line in the error log, and never reaches
# the backend.  Bearer/DPoP downgrades and the three modes are here too.
# Proofs and keys are made by Crypt::JWT and CryptX (t/inc/ZT/DPoP.pm).
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::DPoP;

log_level('info');
no_shuffle();

our $Backend = <<'_EOC_';
    location = /backend {
        echo "backend saw: [$http_authorization] [$http_dpop]";
    }
_EOC_

our $Location = <<'_EOC_';
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional;
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

our $ALGS = 'RS256 ES256';

# the challenges when the DPoP proof (or the token sent with DPoP) is bad
sub dpop_challenge {
    my ($code, $desc, $algs) = @_;
    $algs ||= $ALGS;
    return qq{WWW-Authenticate: Bearer realm="zt", DPoP realm="zt", }
         . qq{error="$code", error_description="$desc", algs="$algs"\n};
}

# ... and when a token sent as a bearer token is refused
sub bearer_challenge {
    my ($desc) = @_;
    return qq{WWW-Authenticate: Bearer realm="zt", error="invalid_token", }
         . qq{error_description="$desc", DPoP realm="zt", algs="$ALGS"\n};
}

sub body {
    my ($code, $message) = @_;
    return qq|{"error":{"type":"invalid_request_error","code":"$code",|
         . qq|"message":"$message"}}\n|;
}

my $ec = ZT::DPoP::key('ec');
my $ec2 = ZT::DPoP::key('ec2');
my $rsa = ZT::DPoP::key('rsa');
my $ec384 = ZT::DPoP::key('ec384');

our $Token = ZT::DPoP::token(key => $ec);
our $TokenRsa = ZT::DPoP::token(key => $rsa);
our $Token384 = ZT::DPoP::token(key => $ec384);
our $TokenEc2 = ZT::DPoP::token(key => $ec2);
our $Unbound = ZT::Token::mint();
our $NoScope = ZT::DPoP::token(key => $ec, claims => { scope => 'other' });

sub proof { return ZT::DPoP::proof(key => $ec, token => $Token, @_) }

sub dpop { return ZT::DPoP::headers($Token, proof(@_)) }

our $Replayed = proof();
our $SameJti = ZT::DPoP::jti();

run_tests();

__DATA__

=== TEST 1: a DPoP-bound token with a good ES256 proof passes; neither the token nor the proof reaches the backend
--- more_headers eval
::dpop()
--- error_code: 200
--- response_body
backend saw: [] []
--- no_error_log
zt: invalid



=== TEST 2: a good RS256 proof (an RSA client key) passes
--- more_headers eval
ZT::DPoP::headers($::TokenRsa,
    ZT::DPoP::proof(key => ZT::DPoP::key('rsa'), token => $::TokenRsa))
--- error_code: 200
--- response_body
backend saw: [] []



=== TEST 3: a POST with htm POST passes
--- request
POST /t
{"model":"m"}
--- more_headers eval
::dpop(htm => 'POST')
--- error_code: 200
--- response_body
backend saw: [] []



=== TEST 4: the scheme name is case-insensitive: "dpop" works
--- more_headers eval
"Authorization: dpop $::Token\nDPoP: " . ::proof() . "\n"
--- error_code: 200
--- response_body
backend saw: [] []



=== TEST 5: optional: a bearer token without cnf still passes as a bearer token
--- more_headers eval
"Authorization: Bearer $::Unbound"
--- error_code: 200
--- response_body
backend saw: [] []



=== TEST 6: optional, no token: a Bearer and a DPoP challenge, no error (RFC 9449 7.2)
--- request
GET /t
--- error_code: 401
--- response_headers eval
qq{WWW-Authenticate: Bearer realm="zt", DPoP realm="zt", algs="$::ALGS"\n}
--- response_body eval
::body('missing_token', 'a bearer token is required')



=== TEST 7: downgrade: a DPoP-bound token sent as a bearer token is refused
--- more_headers eval
"Authorization: Bearer $::Token"
--- error_code: 401
--- response_headers eval
::bearer_challenge('a DPoP-bound token must be sent with the DPoP scheme')
--- response_body eval
::body('invalid_token', 'a DPoP-bound token must be sent with the DPoP scheme')
--- error_log
zt: invalid token: a DPoP-bound token must be sent with the DPoP scheme, fp=



=== TEST 8: downgrade: a DPoP-bound bearer token is refused even with a good DPoP header beside it
--- more_headers eval
"Authorization: Bearer $::Token\nDPoP: " . ::proof() . "\n"
--- error_code: 401
--- response_headers eval
::bearer_challenge('a DPoP-bound token must be sent with the DPoP scheme')



=== TEST 9: the DPoP scheme with a token that is not DPoP-bound: invalid_token in the DPoP challenge
--- more_headers eval
ZT::DPoP::headers($::Unbound,
    ZT::DPoP::proof(key => ZT::DPoP::key('ec'), token => $::Unbound))
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_token', 'the token is not DPoP-bound')
--- response_body eval
::body('invalid_token', 'the token is not DPoP-bound')
--- error_log
zt: invalid token: the token is not DPoP-bound, fp=



=== TEST 10: the DPoP scheme without a DPoP header
--- more_headers eval
"Authorization: DPoP $::Token"
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'missing DPoP proof')
--- response_body eval
::body('invalid_dpop_proof', 'missing DPoP proof')
--- error_log
zt: invalid DPoP proof: missing DPoP proof, fp=



=== TEST 11: two DPoP headers (two good proofs) are refused
--- more_headers eval
::dpop() . "DPoP: " . ::proof() . "\n"
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'more than one DPoP header')
--- error_log
zt: invalid DPoP proof: more than one DPoP header



=== TEST 12: typ JWT instead of dpop+jwt
--- more_headers eval
::dpop(header => { typ => 'JWT' })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof typ is not dpop+jwt')
--- response_body eval
::body('invalid_dpop_proof', 'DPoP proof typ is not dpop+jwt')
--- error_log
zt: invalid DPoP proof: DPoP proof typ is not dpop+jwt



=== TEST 13: no typ at all
--- more_headers eval
::dpop(header => { typ => undef })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof typ is not dpop+jwt')



=== TEST 14: alg none (an unsigned proof)
--- more_headers eval
::dpop(alg => 'none')
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof alg none is not allowed')
--- error_log
zt: invalid DPoP proof: DPoP proof alg none is not allowed



=== TEST 15: HS256 with an oct jwk, although zt_algorithms lists HS256
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS256 ES256 HS256;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
my $secret = 'k' x 32;
::dpop(alg => 'HS256', secret => $secret,
       jwk => { kty => 'oct', k => ZT::Token::b64($secret) })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof alg must be asymmetric')
--- error_log
zt: invalid DPoP proof: DPoP proof alg must be asymmetric



=== TEST 16: ES384 is refused when zt_algorithms does not list it
--- more_headers eval
ZT::DPoP::headers($::Token384,
    ZT::DPoP::proof(key => ZT::DPoP::key('ec384'), token => $::Token384))
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof alg ES384 is not allowed')
--- error_log
zt: invalid DPoP proof: DPoP proof alg ES384 is not allowed



=== TEST 17: ES384 passes once listed, and the challenge's algs follow zt_algorithms
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS256 ES256 ES384;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /u {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS256 ES256 ES384 HS256;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- request eval
["GET /t", "GET /u"]
--- more_headers eval
[ZT::DPoP::headers($::Token384,
    ZT::DPoP::proof(key => ZT::DPoP::key('ec384'), token => $::Token384)),
 ""]
--- error_code eval
[200, 401]
--- response_headers eval
["", qq{WWW-Authenticate: Bearer realm="zt", DPoP realm="zt", algs="RS256 ES256 ES384"\n}]



=== TEST 18: a private EC key (d) in the jwk
--- more_headers eval
my $k = ZT::DPoP::key('ec');
::dpop(jwk => $k->export_key_jwk('private', 1))
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof jwk holds a private key')
--- error_log
zt: invalid DPoP proof: DPoP proof jwk holds a private key



=== TEST 19: a private RSA key (d, p, q, dp, dq, qi) in the jwk
--- more_headers eval
my $k = ZT::DPoP::key('rsa');
ZT::DPoP::headers($::TokenRsa,
    ZT::DPoP::proof(key => $k, token => $::TokenRsa,
                    jwk => $k->export_key_jwk('private', 1)))
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof jwk holds a private key')



=== TEST 20: a symmetric jwk (kty oct) with an ES256 signature
--- more_headers eval
::dpop(jwk => { kty => 'oct', kid => 'x' })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof jwk is a symmetric key')



=== TEST 21: a proof without a jwk
--- more_headers eval
::dpop(jwk => 0, header => { jwk => undef })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof has no jwk')



=== TEST 22: a jwk that is no usable public key (x off the curve)
--- more_headers eval
my $jwk = ZT::DPoP::jwk(ZT::DPoP::key('ec'));
$jwk->{x} = ZT::Token::b64("\x01" x 32);
::dpop(jwk => $jwk)
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof jwk is not a usable public key')
--- error_log
zt: DPoP proof jwk refused: OpenSSL refused the key



=== TEST 23: an RSA jwk under alg ES256
--- more_headers eval
::dpop(jwk => ZT::DPoP::jwk(ZT::DPoP::key('rsa')))
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof jwk does not fit its alg')



=== TEST 24: a bad signature (one bit flipped)
--- more_headers eval
ZT::DPoP::headers($::Token, ZT::Token::flip_sig(::proof()))
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'invalid DPoP proof signature')
--- error_log
zt: invalid DPoP proof: invalid DPoP proof signature



=== TEST 25: signed by another key than the jwk it carries
--- more_headers eval
::dpop(jwk => ZT::DPoP::jwk(ZT::DPoP::key('ec2')))
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'invalid DPoP proof signature')



=== TEST 26: htm POST on a GET
--- more_headers eval
::dpop(htm => 'POST')
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof htm does not match the request')
--- error_log
zt: invalid DPoP proof: DPoP proof htm does not match the request



=== TEST 27: htm is case-sensitive: "get" is not GET
--- more_headers eval
::dpop(htm => 'get')
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof htm does not match the request')



=== TEST 28: htu of another host
--- more_headers eval
::dpop(htu => 'http://evil.example/t')
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof htu does not match the request')
--- error_log
zt: invalid DPoP proof: DPoP proof htu does not match the request



=== TEST 29: htu of another path
--- more_headers eval
::dpop(htu => 'http://localhost/other')
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof htu does not match the request')



=== TEST 30: htu with https on a plain http connection
--- more_headers eval
::dpop(htu => 'https://localhost/t')
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof htu does not match the request')



=== TEST 31: htu with another port than the Host header's
--- more_headers eval
::dpop(htu => 'http://localhost:8080/t')
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof htu does not match the request')



=== TEST 32: no htu
--- more_headers eval
::dpop(claims => { htu => undef })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof has no htu')



=== TEST 33: iat 60 s old with zt_leeway 30s
--- more_headers eval
::dpop(claims => { iat => time - 60 })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof is too old (iat)')
--- error_log
zt: invalid DPoP proof: DPoP proof is too old (iat)



=== TEST 34: iat 60 s in the future
--- more_headers eval
::dpop(claims => { iat => time + 60 })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof iat is in the future')



=== TEST 35: iat 20 s old passes within zt_leeway 30s
--- more_headers eval
::dpop(claims => { iat => time - 20 })
--- error_code: 200



=== TEST 36: zt_leeway 5s: the same 20 s old proof is too old
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_leeway 5s;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
::dpop(claims => { iat => time - 20 })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof is too old (iat)')



=== TEST 37: iat as a string
--- more_headers eval
::dpop(claims => { iat => "" . time })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof has no iat')



=== TEST 38: no ath
--- more_headers eval
ZT::DPoP::headers($::Token, ZT::DPoP::proof(key => ZT::DPoP::key('ec')))
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof has no ath')
--- error_log
zt: invalid DPoP proof: DPoP proof has no ath



=== TEST 39: ath of another token (the proof made for a token of the same key)
--- more_headers eval
::dpop(claims => { ath => ZT::DPoP::ath($::NoScope) })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof ath does not match the token')
--- error_log
zt: invalid DPoP proof: DPoP proof ath does not match the token



=== TEST 40: no jti
--- more_headers eval
::dpop(claims => { jti => undef })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof has no jti')



=== TEST 41: the same proof twice: the replay is refused
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[ZT::DPoP::headers($::Token, $::Replayed), ZT::DPoP::headers($::Token, $::Replayed)]
--- error_code eval
[200, 401]
--- response_headers eval
["", ::dpop_challenge('invalid_dpop_proof', 'DPoP proof jti was already used')]
--- response_body eval
["backend saw: [] []\n", ::body('invalid_dpop_proof', 'DPoP proof jti was already used')]



=== TEST 42: a refused proof does not use up its jti: the good proof with the same jti passes
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[::dpop(htm => 'PUT', claims => { jti => $::SameJti }),
 ::dpop(claims => { jti => $::SameJti })]
--- error_code eval
[401, 200]



=== TEST 43: cnf.jkt mismatch: the token is bound to another key than the proof's
--- more_headers eval
ZT::DPoP::headers($::TokenEc2, ::proof(token => $::TokenEc2))
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_token', 'the DPoP proof key is not the one the token is bound to')
--- response_body eval
::body('invalid_token', 'the DPoP proof key is not the one the token is bound to')
--- error_log
zt: invalid token: the DPoP proof key is not the one the token is bound to, fp=



=== TEST 44: a jkt mismatch does not use up the proof's jti
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[ZT::DPoP::headers($::TokenEc2, ::proof(token => $::TokenEc2, claims => { jti => "x$::SameJti" })),
 ::dpop(claims => { jti => "x$::SameJti" })]
--- error_code eval
[401, 200]



=== TEST 45: the proof sent as the access token is no access token
--- more_headers eval
my $p = ::proof();
"Authorization: DPoP $p\nDPoP: $p\n"
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_token', 'unsupported typ')



=== TEST 46: a crit header in the proof
--- more_headers eval
::dpop(header => { crit => ['exp'], exp => 1 })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof has an unsupported crit header')



=== TEST 47: a proof of two segments
--- more_headers eval
ZT::DPoP::headers($::Token, ZT::Token::two_segments(::proof()))
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'malformed DPoP proof: expected 3 segments')



=== TEST 48: a proof of four segments
--- more_headers eval
ZT::DPoP::headers($::Token, ::proof() . '.x')
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'malformed DPoP proof: expected 3 segments')



=== TEST 49: a proof larger than 8 KiB
--- config
    large_client_header_buffers 4 32k;
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
::dpop(claims => { pad => 'x' x 9000 })
--- error_code: 401
--- response_headers eval
::dpop_challenge('invalid_dpop_proof', 'DPoP proof too large')



=== TEST 50: a token with an unknown cnf member (cnf.jwk) is refused, even as a bearer token
--- more_headers eval
"Authorization: Bearer "
    . ZT::Token::mint(claims => { cnf => { jwk => ZT::DPoP::jwk(ZT::DPoP::key('ec')) } })
--- error_code: 401
--- response_headers eval
::bearer_challenge('unsupported cnf confirmation method')



=== TEST 51: a token whose cnf is not an object
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { cnf => 'x' })
--- error_code: 401
--- response_headers eval
::bearer_challenge('malformed token: cnf is not an object')



=== TEST 52: a DPoP-bound token without the scope the policy needs: 403 with the challenge of DPoP
--- more_headers eval
ZT::DPoP::headers($::NoScope, ::proof(token => $::NoScope))
--- error_code: 403
--- response_headers eval
qq{WWW-Authenticate: Bearer realm="zt", DPoP realm="zt", error="insufficient_scope", algs="$::ALGS"\n}



=== TEST 53: required: a good proof passes
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop required;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
::dpop()
--- error_code: 200
--- response_body
backend saw: [] []



=== TEST 54: required: a token without cnf is refused, and only the DPoP challenge is offered
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop required;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::Unbound"
--- error_code: 401
--- response_headers eval
qq{WWW-Authenticate: DPoP realm="zt", error="invalid_token", error_description="a DPoP-bound token is required", algs="$::ALGS"\n}
--- error_log
zt: invalid token: a DPoP-bound token is required, fp=



=== TEST 55: required: no token gets the DPoP challenge alone
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop required;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- error_code: 401
--- response_headers eval
qq{WWW-Authenticate: DPoP realm="zt", algs="$::ALGS"\n}



=== TEST 56: required at server level, off in a nested location: a bearer token passes there
--- config
    zt_dpop required;
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /open {
        zt_dpop off;
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- request eval
["GET /t", "GET /open"]
--- more_headers eval
["Authorization: Bearer $::Unbound", "Authorization: Bearer $::Unbound"]
--- error_code eval
[401, 200]



=== TEST 57: off: the DPoP scheme is not accepted
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
::dpop()
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="unsupported authorization scheme"



=== TEST 58: off: a DPoP-bound token is refused as a bearer token too (its binding cannot be checked)
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer $::Token"
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="DPoP-bound tokens are not accepted here"



=== TEST 59: with zt_forward_token on, the token and the proof reach the backend
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional;
        zt_forward_token on;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
::dpop()
--- error_code: 200
--- response_body_like: ^backend saw: \[DPoP eyJ[^\]]+\] \[eyJ[^\]]+\]$



=== TEST 60: token cache: each request still needs a fresh proof (a hit, then a replay on a hit)
--- config
    zt_token_cache zone=t070:1m;
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        add_header X-Cache $zt_token_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
my $p = ::proof();
[::dpop(), ZT::DPoP::headers($::Token, $p), ZT::DPoP::headers($::Token, $p),
 "Authorization: Bearer $::Token"]
--- error_code eval
[200, 200, 401, 401]
--- response_headers eval
["X-Cache: MISS", "X-Cache: HIT", "X-Cache: HIT", "X-Cache: HIT"]



=== TEST 61: zt_dpop with an unknown mode
--- config
    location = /t {
        zt_dpop sometimes;
    }
--- must_die
--- error_log
"zt_dpop": invalid value "sometimes", expected off, optional or required



=== TEST 62: zt_dpop without an asymmetric algorithm in zt_algorithms
--- config
    location = /t {
        zt_algorithms HS256;
        zt_dpop required;
    }
--- must_die
--- error_log
"zt_dpop" needs an asymmetric algorithm (RS*, PS* or ES*) in "zt_algorithms"



=== TEST 63: origin= must be an origin
--- config
    location = /t {
        zt_dpop required origin=https://api.example.com/v1;
    }
--- must_die
--- error_log
"zt_dpop": "origin=https://api.example.com/v1" is not an origin such as https://api.example.com



=== TEST 64: a replay cache smaller than 8 pages
--- http_config
    zt_dpop_replay_cache 4k;
--- config
    location = /t {
        zt_dpop optional;
    }
--- must_die
--- error_log
"zt_dpop_replay_cache" is too small



=== TEST 65: a refused proof is audited: deny, 401, the token's fingerprint, neither the token nor the proof
--- http_config
    log_format zt_audit escape=none '$zt_audit';
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["GET /t", "GET /audit"]
--- more_headers eval
[::dpop(htm => 'POST'), ""]
--- error_code eval
[401, 200]
--- response_body_like eval
["invalid_dpop_proof",
 '^(?!.*eyJ)\{[^\n]*"decision":"deny"[^\n]*"status":401[^\n]*"token_fp":"'
 . ZT::Token::fp($::Token) . '"\}\n$']
