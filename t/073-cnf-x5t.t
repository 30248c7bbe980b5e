# Certificate-bound tokens (RFC 8705): a token with cnf.x5t#S256 passes
# only on a TLS connection whose client certificate hashes to it.  The
# test's TLS client is nginx itself: plain-HTTP locations proxy to the
# server's TLS listener (ssl_verify_client optional_no_ca), each with its
# own client certificate or none.  Keys and certificates are made with
# openssl when the file starts; the x5t#S256 values are computed here.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use Digest::SHA ();
use File::Temp ();
use IO::Socket::INET ();
use ZT::Token;
use ZT::DPoP;

log_level('info');
no_shuffle();

my $dir = File::Temp::tempdir('zt-x5t-XXXXXX', TMPDIR => 1, CLEANUP => 1);

for my $name (qw(server a b)) {
    system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
           . "-nodes -days 2 -subj /CN=zt-test-$name -keyout '$dir/$name.key' "
           . "-out '$dir/$name.crt' 2>/dev/null") == 0
        or die "openssl req failed for $name\n";
}

$ENV{TEST_NGINX_CERT_DIR} = $dir;

$ENV{TEST_NGINX_TLS_PORT} = do {
    my $port;
    for (1 .. 100) {
        my $try = 20000 + int rand 20000;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $try, Listen => 1,
                                      Proto => 'tcp') or next;
        close $s;
        $port = $try;
        last;
    }
    $port;
};

# base64url(SHA-256(DER)) of a certificate: what cnf.x5t#S256 holds
sub x5t {
    my ($name) = @_;
    open my $fh, '-|', 'openssl', 'x509', '-in', "$dir/$name.crt",
                       '-outform', 'DER'
        or die "openssl x509: $!";
    binmode $fh;
    local $/;
    my $der = <$fh>;
    close $fh or die "openssl x509 failed\n";
    return ZT::Token::b64(Digest::SHA::sha256($der));
}

our $TokenA = ZT::Token::mint(claims => { cnf => { 'x5t#S256' => x5t('a') } });
our $TokenHex = ZT::Token::mint(claims => {
    cnf => { 'x5t#S256' => unpack('H*', ZT::Token::unb64(x5t('a'))) } });
our $Unbound = ZT::Token::mint();

# bound to both the DPoP key and certificate a
our $TokenBoth = ZT::DPoP::token(cnf => { 'x5t#S256' => x5t('a') });

our $Config = <<'_EOC_';
    listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
    ssl_certificate $TEST_NGINX_CERT_DIR/server.crt;
    ssl_certificate_key $TEST_NGINX_CERT_DIR/server.key;
    ssl_verify_client optional_no_ca;

    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_dpop optional;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }

    location = /backend {
        echo "backend saw: [$http_authorization]";
    }

    # the test's TLS clients; no session reuse, so each shows its own
    # certificate in its own handshake
    location = /with-a {
        proxy_pass https://127.0.0.1:$TEST_NGINX_TLS_PORT/t;
        proxy_set_header Host localhost;
        proxy_ssl_session_reuse off;
        proxy_ssl_certificate $TEST_NGINX_CERT_DIR/a.crt;
        proxy_ssl_certificate_key $TEST_NGINX_CERT_DIR/a.key;
    }

    location = /with-b {
        proxy_pass https://127.0.0.1:$TEST_NGINX_TLS_PORT/t;
        proxy_set_header Host localhost;
        proxy_ssl_session_reuse off;
        proxy_ssl_certificate $TEST_NGINX_CERT_DIR/b.crt;
        proxy_ssl_certificate_key $TEST_NGINX_CERT_DIR/b.key;
    }

    location = /without {
        proxy_pass https://127.0.0.1:$TEST_NGINX_TLS_PORT/t;
        proxy_set_header Host localhost;
        proxy_ssl_session_reuse off;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $Config) unless defined $block->config;
});

sub refused {
    my ($desc) = @_;
    return qq{WWW-Authenticate: Bearer realm="zt", error="invalid_token", }
         . qq{error_description="$desc", DPoP realm="zt", }
         . qq{algs="RS256 ES256"\n};
}

our $Mismatch = 'the client certificate is not the one the token is bound to';
our $NoCert = 'the token is bound to a client certificate, none was presented';

run_tests();

__DATA__

=== TEST 1: a token bound to certificate a, presented over TLS with certificate a, passes
--- request
GET /with-a
--- more_headers eval
"Authorization: Bearer $::TokenA"
--- error_code: 200
--- response_body
backend saw: []
--- no_error_log
zt: invalid token



=== TEST 2: the same token with certificate b is refused
--- request
GET /with-b
--- more_headers eval
"Authorization: Bearer $::TokenA"
--- error_code: 401
--- response_headers eval
::refused($::Mismatch)
--- response_body eval
qq|{"error":{"type":"invalid_request_error","code":"invalid_token","message":"$::Mismatch"}}\n|
--- error_log eval
"zt: invalid token: $::Mismatch, fp=" . ZT::Token::fp($::TokenA)



=== TEST 3: the same token over TLS without a client certificate is refused
--- request
GET /without
--- more_headers eval
"Authorization: Bearer $::TokenA"
--- error_code: 401
--- response_headers eval
::refused($::NoCert)
--- error_log eval
"zt: invalid token: $::NoCert"



=== TEST 4: the same token over plain HTTP is refused
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $::TokenA"
--- error_code: 401
--- response_headers eval
::refused($::NoCert)



=== TEST 5: x5t#S256 in hex rather than base64url is no match
--- request
GET /with-a
--- more_headers eval
"Authorization: Bearer $::TokenHex"
--- error_code: 401
--- response_headers eval
::refused($::Mismatch)



=== TEST 6: a token without cnf passes with a client certificate too
--- request
GET /with-b
--- more_headers eval
"Authorization: Bearer $::Unbound"
--- error_code: 200
--- response_body
backend saw: []



=== TEST 7: DPoP over TLS: htu names https
--- request
GET /without
--- more_headers eval
my $token = ZT::DPoP::token();
ZT::DPoP::headers($token, ZT::DPoP::proof(token => $token,
                                          htu => 'https://localhost/t'))
--- error_code: 200



=== TEST 8: DPoP over TLS: htu with http is another URL
--- request
GET /without
--- more_headers eval
my $token = ZT::DPoP::token();
ZT::DPoP::headers($token, ZT::DPoP::proof(token => $token,
                                          htu => 'http://localhost/t'))
--- error_code: 401
--- response_body_like: DPoP proof htu does not match the request



=== TEST 9: a token bound to a DPoP key and to certificate a: proof and certificate a pass
--- request
GET /with-a
--- more_headers eval
ZT::DPoP::headers($::TokenBoth,
    ZT::DPoP::proof(token => $::TokenBoth, htu => 'https://localhost/t'))
--- error_code: 200



=== TEST 10: bound to both: a good proof with certificate b is refused
--- request
GET /with-b
--- more_headers eval
ZT::DPoP::headers($::TokenBoth,
    ZT::DPoP::proof(token => $::TokenBoth, htu => 'https://localhost/t'))
--- error_code: 401
--- response_headers eval
qq{WWW-Authenticate: Bearer realm="zt", DPoP realm="zt", error="invalid_token", }
. qq{error_description="$::Mismatch", algs="RS256 ES256"\n}



=== TEST 11: a server that asks for no client certificate: a bound token is refused
--- config
    listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
    ssl_certificate $TEST_NGINX_CERT_DIR/server.crt;
    ssl_certificate_key $TEST_NGINX_CERT_DIR/server.key;

    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }

    location = /backend {
        echo "backend saw: [$http_authorization]";
    }

    location = /with-a {
        proxy_pass https://127.0.0.1:$TEST_NGINX_TLS_PORT/t;
        proxy_ssl_session_reuse off;
        proxy_ssl_certificate $TEST_NGINX_CERT_DIR/a.crt;
        proxy_ssl_certificate_key $TEST_NGINX_CERT_DIR/a.key;
    }
--- request
GET /with-a
--- more_headers eval
"Authorization: Bearer $::TokenA"
--- error_code: 401
--- response_headers eval
qq{WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="$::NoCert"\n}
