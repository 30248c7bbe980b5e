package ZT::DPoP;

# DPoP (RFC 9449) for the zt-inference tests: client keys, tokens bound to
# them (cnf.jkt), and proofs, all made by Crypt::JWT and CryptX, never by
# the module.  Thumbprints come from CryptX's own RFC 7638 code.
#
#   use lib 't/inc';
#   use ZT::DPoP;
#
#   my $key   = ZT::DPoP::key('ec');              # P-256, made once a run
#   my $token = ZT::DPoP::token(key => $key);     # RS256, cnf.jkt of $key
#   my $proof = ZT::DPoP::proof(key => $key, token => $token,
#                               htm => 'GET', htu => 'http://localhost/t');
#
# proof() defaults: alg of the key (ES256, ES384, RS256), typ dpop+jwt, the
# key's public jwk, a fresh random jti, iat now, ath of token (when a token
# is given).  header => {...} and claims => {...} add or (undef) remove
# fields; jwk => HASH replaces the jwk.

use strict;
use warnings;

use Crypt::JWT ();
use Crypt::PK::ECC ();
use Crypt::PK::RSA ();
use Crypt::PRNG ();
use Digest::SHA ();
use MIME::Base64 ();
use ZT::Token ();

my %Keys;

my %ALG = (ec => 'ES256', ec2 => 'ES256', ec384 => 'ES384', rsa => 'RS256');

sub b64 { return MIME::Base64::encode_base64url($_[0]) }

# a client key, generated once per test run: ec, ec2 (another P-256),
# ec384, rsa (2048 bits)
sub key {
    my ($name) = @_;
    $name ||= 'ec';

    return $Keys{$name} ||= do {
        my $pk;
        if ($name eq 'rsa') {
            $pk = Crypt::PK::RSA->new;
            $pk->generate_key(256, 65537);
        } else {
            $pk = Crypt::PK::ECC->new;
            $pk->generate_key($name eq 'ec384' ? 'secp384r1' : 'secp256r1');
        }
        $pk;
    };
}

sub alg_of {
    my ($name) = @_;
    return $ALG{$name || 'ec'};
}

# RFC 7638 thumbprint of a key's public part (what cnf.jkt holds)
sub jkt {
    my ($pk) = @_;
    return $pk->export_key_jwk_thumbprint('SHA256');
}

sub jwk {
    my ($pk) = @_;
    return $pk->export_key_jwk('public', 1);
}

# base64url(SHA-256(token)): the proof's ath
sub ath {
    my ($token) = @_;
    return b64(Digest::SHA::sha256($token));
}

# an access token bound to key => $pk (default: key('ec')); other
# arguments go to ZT::Token::mint
sub token {
    my (%a) = @_;
    my $pk = delete $a{key} || key('ec');
    my %cnf = (jkt => jkt($pk), %{ delete $a{cnf} || {} });

    delete $cnf{$_} for grep { !defined $cnf{$_} } keys %cnf;

    return ZT::Token::mint(%a, claims => { %{ $a{claims} || {} },
                                           cnf => \%cnf });
}

sub jti {
    return b64(Crypt::PRNG::random_bytes(16));
}

# a DPoP proof; see the top of this file
sub proof {
    my (%a) = @_;
    my $name = $a{keyname} || 'ec';
    my $pk = $a{key} || key($name);
    my $alg = $a{alg} || ($pk->isa('Crypt::PK::RSA') ? 'RS256'
                          : $pk->key2hash->{curve_bits} == 384 ? 'ES384'
                          : 'ES256');

    my %h = (typ => 'dpop+jwt', jwk => $a{jwk} || jwk($pk),
             %{ $a{header} || {} });
    delete $h{$_} for grep { !defined $h{$_} } keys %h;

    my %c = (
        jti => jti(),
        htm => 'GET',
        htu => 'http://localhost/t',
        iat => time,
    );
    $c{htm} = $a{htm} if defined $a{htm};
    $c{htu} = $a{htu} if defined $a{htu};
    $c{ath} = ath($a{token}) if defined $a{token};
    %c = (%c, %{ $a{claims} || {} });
    delete $c{$_} for grep { !defined $c{$_} } keys %c;

    if ($alg eq 'none') {
        return Crypt::JWT::encode_jwt(payload => \%c, alg => 'none',
                                      allow_none => 1, extra_headers => \%h);
    }

    return Crypt::JWT::encode_jwt(payload => \%c, alg => $alg,
                                  key => $a{secret} || $pk,
                                  extra_headers => \%h);
}

# request headers for a DPoP call: Authorization: DPoP and the proof
sub headers {
    my ($token, $proof) = @_;
    return "Authorization: DPoP $token\nDPoP: $proof\n";
}

1;
