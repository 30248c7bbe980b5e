#!/usr/bin/perl
# Mints a signed JWT for the demo (and for trying the gateway by hand):
#   demo/mint.pl --key private.pem --kid demo --iss ISS --aud AUD
#                --sub alice --scope "inference:invoke" [--ttl 3600]
#                [--dpop-key dpop.pem]     # bound to that key (cnf.jkt)
# and DPoP proofs (RFC 9449), one per request:
#   demo/mint.pl --proof --dpop-key dpop.pem --token TOKEN
#                --htm POST --htu https://api.example.com/v1/chat/completions
# Signing uses Perl's Crypt::JWT, an implementation independent of the
# module's own verifier.
use strict;
use warnings;
use Getopt::Long;
use Crypt::JWT qw(encode_jwt);
use Crypt::PK::ECC;
use Crypt::PK::RSA;
use Crypt::PRNG qw(random_bytes);
use Digest::SHA qw(sha256);
use MIME::Base64 qw(encode_base64url);

my %o = (ttl => 3600, alg => 'RS256', htm => 'GET');
GetOptions(\%o, 'key=s', 'kid=s', 'iss=s', 'aud=s', 'sub=s', 'scope=s',
           'groups=s', 'ttl=i', 'alg=s', 'jwks', 'dpop-key=s', 'proof',
           'token=s', 'htm=s', 'htu=s') or exit 2;

# the client's DPoP key (EC P-256): it signs proofs, the token names it
my $dpop = $o{'dpop-key'} ? Crypt::PK::ECC->new($o{'dpop-key'}) : undef;

if ($o{proof}) {
    die "--proof needs --dpop-key and --htu\n" unless $dpop && $o{htu};

    my %claims = (jti => encode_base64url(random_bytes(16)), htm => $o{htm},
                  htu => $o{htu}, iat => time);
    $claims{ath} = encode_base64url(sha256($o{token})) if defined $o{token};

    print encode_jwt(payload => \%claims, key => $dpop, alg => 'ES256',
                     extra_headers => { typ => 'dpop+jwt',
                                        jwk => $dpop->export_key_jwk('public',
                                                                     1) }),
          "\n";
    exit 0;
}

my $pk = Crypt::PK::RSA->new($o{key});

if ($o{jwks}) {
    # print the public JWKS of --key instead of a token
    my $jwk = $pk->export_key_jwk('public', 1);
    $jwk->{kid} = $o{kid};
    $jwk->{use} = 'sig';
    $jwk->{alg} = $o{alg};
    require JSON::PP;
    print JSON::PP->new->canonical->encode({ keys => [$jwk] }), "\n";
    exit 0;
}

my $now = time;
my %claims = (iat => $now, exp => $now + $o{ttl}, sub => $o{sub});
$claims{iss} = $o{iss} if defined $o{iss};
$claims{aud} = $o{aud} if defined $o{aud};
$claims{scope} = $o{scope} if defined $o{scope};
$claims{groups} = [split /,/, $o{groups}] if defined $o{groups};
$claims{cnf} = { jkt => $dpop->export_key_jwk_thumbprint('SHA256') } if $dpop;

print encode_jwt(payload => \%claims, key => $pk, alg => $o{alg},
                 extra_headers => { kid => $o{kid}, typ => 'JWT' }), "\n";
