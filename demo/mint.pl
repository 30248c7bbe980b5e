#!/usr/bin/perl
# Mints a signed JWT for the demo (and for trying the gateway by hand):
#   demo/mint.pl --key private.pem --kid demo --iss ISS --aud AUD
#                --sub alice --scope "inference:invoke" [--ttl 3600]
# Signing uses Perl's Crypt::JWT, an implementation independent of the
# module's own verifier.
use strict;
use warnings;
use Getopt::Long;
use Crypt::JWT qw(encode_jwt);
use Crypt::PK::RSA;

my %o = (ttl => 3600, alg => 'RS256');
GetOptions(\%o, 'key=s', 'kid=s', 'iss=s', 'aud=s', 'sub=s', 'scope=s',
           'groups=s', 'ttl=i', 'alg=s', 'jwks') or exit 2;

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

print encode_jwt(payload => \%claims, key => $pk, alg => $o{alg},
                 extra_headers => { kid => $o{kid}, typ => 'JWT' }), "\n";
