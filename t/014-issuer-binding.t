# Keys bound to issuers: zt_jwks_file PATH issuer=ISS.  A bound key
# verifies only tokens whose iss is exactly ISS, and that is checked before
# the signature: a partner's oct key never vouches for a token that claims
# the IdP's iss.  nginx -t warns when several issuers share unbound keys.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

log_level('info');
no_shuffle();

our $IDP = 'https://idp-a.test';
our $PARTNER = 'https://partner.test';
our $PSECRET = 'partner-secret-0123456789-abcdefghij';

# IdP A publishes RSA keys; the partner shares an oct key (kid p1)
our $Files = ">>> idp-a.json\n" . ZT::Token::jwks(['rsa1', 'a1']) . "\n"
    . ">>> partner.json\n" . ZT::Token::jwks([{ secret => $PSECRET }, 'p1']) . "\n"
    . ">>> partner-nokid.json\n" . ZT::Token::jwks([{ secret => $PSECRET }]) . "\n"
    . ">>> idp-k1.json\n" . ZT::Token::jwks(['rsa1', 'k1']) . "\n"
    . ">>> partner-k1.json\n" . ZT::Token::jwks([{ secret => $PSECRET }, 'k1']) . "\n";

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('request', "GET /t\n") unless defined $block->request;
    $block->set_value('user_files', $Files) unless defined $block->user_files;
});

# the attack: signed with the partner's secret, claiming IdP A and admin
sub forged {
    my (%a) = @_;
    return "Authorization: Bearer " . ZT::Token::mint(
        secret => $PSECRET, alg => 'HS256',
        kid => exists $a{kid} ? $a{kid} : 'p1',
        claims => { iss => $IDP, sub => 'admin', %{ $a{claims} || {} } });
}

sub idp {
    my (%a) = @_;
    return "Authorization: Bearer " . ZT::Token::mint(
        key => 'rsa1', kid => exists $a{kid} ? $a{kid} : 'a1',
        claims => { iss => $IDP, sub => 'admin', %{ $a{claims} || {} } });
}

sub partner {
    my (%a) = @_;
    return "Authorization: Bearer " . ZT::Token::mint(
        secret => $PSECRET, alg => 'HS256',
        kid => exists $a{kid} ? $a{kid} : 'p1',
        claims => { iss => $PARTNER, sub => 'bob', %{ $a{claims} || {} } });
}

our $Bound = <<'_EOC_';
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
        zt_jwks_file ../html/partner.json issuer=https://partner.test;
        zt_issuer https://idp-a.test;
        zt_issuer https://partner.test;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        zt_policy allow sub=bob;
        echo "sub=$zt_sub iss=$zt_claim_iss";
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: unbound keys: the partner's key vouches for a token claiming IdP A (the attack), and nginx -t warns
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json;
        zt_jwks_file ../html/partner.json;
        zt_issuer https://idp-a.test;
        zt_issuer https://partner.test;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub iss=$zt_claim_iss";
    }
--- more_headers eval
main::forged()
--- error_code: 200
--- response_body
sub=admin iss=https://idp-a.test
--- error_log eval
qr/\[warn\] .*zt: 2 key\(s\) and 0 remote key set\(s\) bound to no issuer verify tokens of each of the 2 accepted issuers \("https:\/\/idp-a.test", "https:\/\/partner.test"\)/



=== TEST 2: bound keys: the same forged token is refused before its signature is checked
--- config eval
$::Bound
--- more_headers eval
main::forged()
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="kid is bound to another issuer"
--- no_error_log
bound to no issuer
invalid signature



=== TEST 3: bound keys: IdP A's own token passes
--- config eval
$::Bound
--- more_headers eval
main::idp()
--- error_code: 200
--- response_body
sub=admin iss=https://idp-a.test



=== TEST 4: bound keys: the partner's own token passes with the partner's key
--- config eval
$::Bound
--- more_headers eval
main::partner()
--- error_code: 200
--- response_body
sub=bob iss=https://partner.test



=== TEST 5: the forged token without a kid finds no key of IdP A's for HS256
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
        zt_jwks_file ../html/partner-nokid.json issuer=https://partner.test;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub";
    }
--- more_headers eval
main::forged(kid => undef)
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="no key for the token's issuer"



=== TEST 6: kid collision across issuers: the forged token's kid k1 picks IdP A's RSA key, which HS256 does not fit
--- config
    location = /t {
        zt_jwks_file ../html/idp-k1.json issuer=https://idp-a.test;
        zt_jwks_file ../html/partner-k1.json issuer=https://partner.test;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        zt_policy allow sub=bob;
        echo "sub=$zt_sub";
    }
--- more_headers eval
main::forged(kid => 'k1')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="key does not match alg"



=== TEST 7: kid collision across issuers: each issuer's own token finds its own k1
--- config
    location = /t {
        zt_jwks_file ../html/partner-k1.json issuer=https://partner.test;
        zt_jwks_file ../html/idp-k1.json issuer=https://idp-a.test;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        zt_policy allow sub=bob;
        echo "sub=$zt_sub";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::idp(kid => 'k1'), main::partner(kid => 'k1')]
--- error_code eval
[200, 200]
--- response_body eval
["sub=admin\n", "sub=bob\n"]



=== TEST 8: kid collision: IdP A's RSA key never verifies a token that claims the partner
--- config
    location = /t {
        zt_jwks_file ../html/idp-k1.json issuer=https://idp-a.test;
        zt_jwks_file ../html/partner-k1.json issuer=https://partner.test;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub";
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(key => 'rsa1', kid => 'k1',
    claims => { iss => $::PARTNER, sub => 'admin' })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="key does not match alg"



=== TEST 9: a PEM file bound to an issuer verifies that issuer's tokens (no kid)
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/rsa1.pub.pem issuer=https://idp-a.test;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub";
    }
--- more_headers eval
main::idp(kid => undef)
--- error_code: 200
--- response_body
sub=admin



=== TEST 10: a PEM file bound to an issuer refuses another issuer's token signed by the same key
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/rsa1.pub.pem issuer=https://idp-a.test;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub";
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(key => 'rsa1', kid => undef,
    claims => { iss => $::PARTNER, sub => 'admin' })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="no key for the token's issuer"



=== TEST 11: a token without iss meets no bound key (even where zt_issuer is not set)
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub";
    }
--- more_headers eval
main::idp(claims => { iss => undef })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="kid is bound to another issuer"



=== TEST 12: an iss that is a number meets no bound key
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub";
    }
--- more_headers eval
main::idp(claims => { iss => 42 })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="kid is bound to another issuer"



=== TEST 13: an iss that is an array holding the issuer meets no bound key
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub";
    }
--- more_headers eval
main::idp(claims => { iss => [$::IDP] })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="kid is bound to another issuer"



=== TEST 14: the issuer must match exactly: a trailing slash is another issuer
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub";
    }
--- more_headers eval
main::idp(claims => { iss => "$::IDP/" })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="kid is bound to another issuer"



=== TEST 15: unbound and bound keys mixed: the unbound key still serves every issuer, with a warning
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
        zt_jwks_file ../html/partner.json;
        zt_issuer https://idp-a.test;
        zt_issuer https://partner.test;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub";
    }
--- more_headers eval
main::forged()
--- error_code: 200
--- response_body
sub=admin
--- error_log eval
qr/\[warn\] .*zt: 1 key\(s\) and 0 remote key set\(s\) bound to no issuer verify tokens of each of the 2 accepted issuers/



=== TEST 16: unbound and bound keys mixed: the bound key still refuses the other issuer
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
        zt_jwks_file ../html/partner.json;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        echo "sub=$zt_sub";
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(key => 'rsa1', kid => 'a1',
    claims => { iss => $::PARTNER, sub => 'admin' })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="kid is bound to another issuer"



=== TEST 17: no warning when every key is bound, nor with a single issuer
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
        zt_jwks_file ../html/partner.json issuer=https://partner.test;
        zt_issuer https://idp-a.test;
        zt_issuer https://partner.test;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        echo ok;
    }
    location = /one {
        zt_jwks_file ../html/partner.json;
        zt_issuer https://partner.test;
        zt_algorithms HS256;
        zt_policy allow sub=bob;
        echo ok;
    }
--- more_headers eval
main::idp()
--- error_code: 200
--- no_error_log
bound to no issuer



=== TEST 18: the warning is given once for keys and issuers that many locations inherit
--- http_config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://idp-a.test;
    zt_issuer https://partner.test;
--- config
    location = /t { zt_policy allow sub=admin; echo ok; }
    location = /u { zt_policy allow sub=admin; echo ok; }
    location = /v { zt_policy allow sub=admin; echo ok; }
--- more_headers eval
main::idp(kid => 'rsa1')
--- error_code: 200
--- grep_error_log eval
qr/remote key set\(s\) bound to no issuer/
--- grep_error_log_out
remote key set(s) bound to no issuer



=== TEST 19: issuer= needs a value
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=;
        zt_policy allow sub=admin;
        echo ok;
    }
--- must_die
--- error_log
zt_jwks_file: invalid parameter "issuer=", expected "issuer=ISS"



=== TEST 20: an unknown parameter of zt_jwks_file stops nginx -t
--- config
    location = /t {
        zt_jwks_file ../html/idp-a.json iss=https://idp-a.test;
        zt_policy allow sub=admin;
        echo ok;
    }
--- must_die
--- error_log
zt_jwks_file: invalid parameter "iss=https://idp-a.test", expected "issuer=ISS"



=== TEST 21: the token cache is bound to the keys' binding: a token cached where keys are unbound is no proof where they are bound
--- http_config
    zt_token_cache zone=zt_bind:1m;
--- config
    location = /open {
        zt_jwks_file ../html/partner.json;
        zt_algorithms HS256;
        zt_policy allow sub=admin;
        echo "open $zt_token_cache";
    }
    location = /t {
        zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
        zt_jwks_file ../html/partner.json issuer=https://partner.test;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        echo "bound $zt_token_cache";
    }
--- request eval
["GET /open", "GET /open", "GET /t"]
--- more_headers eval
my $h = main::forged();
[$h, $h, $h]
--- error_code eval
[200, 200, 401]
--- response_body_like eval
["^open MISS\$", "^open HIT\$", "kid is bound to another issuer"]
