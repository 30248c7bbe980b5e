# Identity configuration: zt_jwks_file and zt_algorithms refuse what they
# cannot use at startup (`nginx -t` fails), with a message that names the
# file or the value and says why.  Files written by --- user_files are
# named relative to the configuration directory (../html/NAME), as any
# relative zt_jwks_file path is.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

log_level('info');
no_shuffle();

our %T = (
    es256 => ZT::Token::mint(key => 'ec1'),
);

run_tests();

__DATA__

=== TEST 1: a missing key file stops nginx, naming the file
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/no-such-jwks.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*zt_jwks_file ".*/no-such-jwks\.json" cannot be opened \(2: No such file or directory\)}



=== TEST 2: a JWKS without a usable key stops nginx and says which keys were skipped and why
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks-empty.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
[qr{\[warn\] .*zt_jwks_file ".*/jwks-empty\.json": key #1 \(kid "enc1"\) skipped: "use" is not "sig"},
 qr{\[warn\] .*zt_jwks_file ".*/jwks-empty\.json": key #2 \(kid "ed1"\) skipped: "kty" is not RSA, EC or oct},
 qr{\[warn\] .*zt_jwks_file ".*/jwks-empty\.json": key #3 \(kid "short"\) skipped: "k" is shorter than 256 bits},
 qr{\[emerg\] .*zt_jwks_file ".*/jwks-empty\.json" has no usable key \(3 skipped\)}]



=== TEST 3: a file that is neither JSON nor PEM stops nginx
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/not-a-key.txt;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*zt_jwks_file ".*/not-a-key\.txt" is neither a JWKS \(JSON\) nor a PEM public key}



=== TEST 4: a PEM private key instead of a public one stops nginx
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/rsa1.pem;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*zt_jwks_file ".*/rsa1\.pem" holds no PEM public key}



=== TEST 5: broken JSON stops nginx with the parser's position
--- user_files
>>> broken.json
{"keys": [
--- config
    location = /t {
        zt_jwks_file ../html/broken.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*zt_jwks_file ".*/broken\.json" is not valid JSON: .* at line \d+, column \d+}



=== TEST 6: JSON that is neither a JWKS nor a JWK stops nginx
--- user_files
>>> other.json
{"issuer": "https://issuer.zt.test"}
--- config
    location = /t {
        zt_jwks_file ../html/other.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*zt_jwks_file ".*/other\.json" is neither a JWKS \(\{"keys":\[\.\.\.\]\}\) nor a JWK}



=== TEST 7: an EC key whose point is not on its curve is skipped
--- user_files
>>> offcurve.json
{"keys": [{"kty": "EC", "crv": "P-256", "kid": "bad",
           "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
           "y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}]}
--- config
    location = /t {
        zt_jwks_file ../html/offcurve.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
[qr{\[warn\] .*key #1 \(kid "bad"\) skipped: OpenSSL refused the key},
 qr{\[emerg\] .*offcurve\.json" has no usable key \(1 skipped\)}]



=== TEST 8: an RSA key under 2048 bits is skipped
--- user_files
>>> weak.json
{"keys": [{"kty": "RSA", "kid": "weak", "e": "AQAB",
           "n": "wQEAAcsXWsFRnGBBWKyPwH3ku6Osuz2ryxlZ4Lu2yFmeE6VY8G0zlIFWIjRT6LwF0tyg3Ntc2IwX-NTn1fMyJw"}]}
--- config
    location = /t {
        zt_jwks_file ../html/weak.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[warn\] .*key #1 \(kid "weak"\) skipped: RSA modulus is shorter than 2048 bits}



=== TEST 9: a JWK whose alg does not fit its kty is skipped
--- user_files
>>> mismatch.json
{"keys": [{"kty": "oct", "kid": "m", "alg": "RS256",
           "k": "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"}]}
--- config
    location = /t {
        zt_jwks_file ../html/mismatch.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[warn\] .*key #1 \(kid "m"\) skipped: "alg" does not fit "kty"}



=== TEST 10: an unknown algorithm in zt_algorithms stops nginx, naming it
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS256 RS257;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"zt_algorithms": unknown algorithm "RS257"}



=== TEST 11: "none" in zt_algorithms stops nginx
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS256 none;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"zt_algorithms": algorithm "none" is never allowed}



=== TEST 12: an algorithm listed twice stops nginx
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS256 ES256 RS256;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"zt_algorithms": algorithm "RS256" is duplicate}



=== TEST 13: zt_algorithms twice in one context stops nginx
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_algorithms RS256;
        zt_algorithms ES256;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"zt_algorithms" directive is duplicate}



=== TEST 14: zt_jwks_file and zt_algorithms at http level are inherited by a location
--- http_config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_algorithms ES256;
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- more_headers eval
"Authorization: Bearer $::T{es256}"
--- request
GET /t
--- error_code: 200
--- response_body
allowed



=== TEST 15: a location's zt_algorithms replaces the inherited list
--- http_config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_algorithms ES256;
--- config
    location = /t {
        zt_algorithms RS256;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- more_headers eval
"Authorization: Bearer $::T{es256}"
--- request
GET /t
--- error_code: 401
--- response_body
{"error":{"type":"invalid_request_error","code":"invalid_token","message":"alg ES256 is not allowed"}}



=== TEST 16: keys with "use": "enc" are skipped with a warning, the usable ones still load
--- user_files
>>> mixed.json
{"keys": [{"kty": "oct", "kid": "e", "use": "enc",
           "k": "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"},
          {"kty": "oct", "kid": "s", "use": "sig",
           "k": "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"}]}
--- config
    location = /t {
        zt_jwks_file ../html/mixed.json;
        zt_algorithms HS256;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(secret => '01234567890123456789012345678901', alg => 'HS256', kid => 's')
--- request
GET /t
--- error_code: 200
--- response_body
allowed
--- error_log eval
qr{\[warn\] .*key #1 \(kid "e"\) skipped: "use" is not "sig"}



=== TEST 17: a key file over 1 MiB stops nginx, with its size
--- user_files eval
">>> huge.json\n" . '{"keys":[' . (' ' x (1024 * 1024)) . ']}'
--- config
    location = /t {
        zt_jwks_file ../html/huge.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*zt_jwks_file ".*/huge\.json" is too large \(\d+ bytes, at most 1048576\)}



=== TEST 18: a directory is not a key file
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*zt_jwks_file ".*/data" is not a regular file}



=== TEST 19: an empty key file stops nginx
--- user_files
>>> empty.json
--- config
    location = /t {
        zt_jwks_file ../html/empty.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*zt_jwks_file ".*/empty\.json" is empty}



=== TEST 20: a JWKS naming a member twice stops nginx, with the line and column of the second
--- user_files
>>> twice.json
{"keys": [],
  "keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}
--- config
    location = /t {
        zt_jwks_file ../html/twice.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*zt_jwks_file ".*/twice\.json" is not valid JSON: duplicate member name at line 2, column 3}



=== TEST 21: a JWKS with "\u0000" in a string stops nginx
--- user_files
>>> nul.json
{"keys": [{"kty": "oct", "kid": "a\u0000b",
           "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}
--- config
    location = /t {
        zt_jwks_file ../html/nul.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*zt_jwks_file ".*/nul\.json" is not valid JSON: a string holds "\\u0000"}



=== TEST 22: a JWKS with escapes in its names and values is read as their unescaped text
--- user_files eval
">>> escaped.json\n" . do {
    my $j = ZT::Token::jwk('rsa1');
    my $n = $j->{n};
    qq({"\\u006beys": [{"kty": "\\u0052SA", "kid": "\\u0072sa1", "e": "$j->{e}", "n": "$n"}]})
}
--- config
    location = /t {
        zt_jwks_file ../html/escaped.json;
        zt_policy allow scope=inference:invoke;
        echo "allowed";
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint()
--- request
GET /t
--- error_code: 200
--- response_body
allowed
