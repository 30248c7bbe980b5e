package ZT::Token;

# Test tokens for the zt-inference suite, minted by an implementation that
# is not the module's: Crypt::JWT (and CryptX for the raw, malformed ones).
# Keys are the fixtures of t/data (see t/data/gen-keys.sh).
#
#   use lib 't/inc';
#   use ZT::Token;
#
#   ZT::Token::mint();                               # RS256, kid rsa1
#   ZT::Token::mint(key => 'ec1', claims => { scope => 'a b' });
#   ZT::Token::mint(key => 'hs1', alg => 'HS256');
#   ZT::Token::mint(secret => $bytes, alg => 'HS256', kid => undef);
#   ZT::Token::mint(header => { typ => 'at+jwt' }, exp_in => -60);
#
# Claims default to sub alice, iss https://issuer.zt.test, aud zt-gateway,
# scope inference:invoke, iat now, exp now + exp_in (300); a claim or a
# header field given as undef is left out.

use strict;
use warnings;

use Cwd ();
use File::Basename ();
use Crypt::JWT ();
use Crypt::PK::RSA ();
use Crypt::PK::ECC ();
use Crypt::Mac::HMAC ();
use Digest::SHA ();
use JSON::PP ();
use MIME::Base64 ();

our $ISSUER   = 'https://issuer.zt.test';
our $AUDIENCE = 'zt-gateway';
our $SUBJECT  = 'alice';
our $SCOPE    = 'inference:invoke';

my %ALG = (
    rsa1  => 'RS256',
    rsa2  => 'RS256',
    ec1   => 'ES256',
    ec384 => 'ES384',
    ec521 => 'ES512',
    hs1   => 'HS256',
);

sub data_dir {
    return $ENV{TEST_NGINX_DATA_DIR}
        || Cwd::abs_path(File::Basename::dirname(__FILE__) . '/../../data');
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or die "ZT::Token: cannot read $file: $!";
    local $/;
    return scalar <$fh>;
}

# a fixture name (rsa1, ec1, hs1 ...) to what Crypt::JWT signs with
sub key {
    my ($name) = @_;
    my $dir = data_dir();

    return Crypt::PK::RSA->new("$dir/$name.pem") if $name =~ /^rsa/;
    return Crypt::PK::ECC->new("$dir/$name.pem") if $name =~ /^ec/;
    return slurp("$dir/$name.secret")            if $name =~ /^hs/;

    die "ZT::Token: no key fixture '$name'";
}

# the public key PEM of a fixture, as text
sub public_pem {
    my ($name) = @_;
    return slurp(data_dir() . "/$name.pub.pem");
}

sub b64 { return MIME::Base64::encode_base64url($_[0]) }

sub unb64 { return MIME::Base64::decode_base64url($_[0]) }

sub _header {
    my (%a) = @_;
    my %h = (typ => 'JWT');

    if (exists $a{kid}) {
        $h{kid} = $a{kid};
    } elsif (defined $a{key} && !ref $a{key} && $ALG{$a{key}}) {
        $h{kid} = $a{key};
    }

    %h = (%h, %{ $a{header} || {} });
    delete $h{$_} for grep { !defined $h{$_} } keys %h;

    return \%h;
}

sub claims {
    my (%a) = @_;
    my $now = time;
    my %c = (
        sub   => $SUBJECT,
        iss   => $ISSUER,
        aud   => $AUDIENCE,
        scope => $SCOPE,
        iat   => $now,
        exp   => $now + (defined $a{exp_in} ? $a{exp_in} : 300),
    );

    %c = (%c, %{ $a{claims} || {} });
    delete $c{$_} for grep { !defined $c{$_} } keys %c;

    return \%c;
}

# alg (default: the key's), key (fixture name, default rsa1) or secret
# (raw HMAC bytes), kid (default: the fixture name; undef: none), header
# (extra fields), claims, exp_in, payload (a raw string instead of claims)
sub mint {
    my (%a) = @_;

    $a{key} = 'rsa1' unless defined $a{key} || defined $a{secret};

    my $alg = $a{alg} || (defined $a{key} && $ALG{$a{key}}) || 'HS256';
    my $key = defined $a{secret} ? $a{secret} : key($a{key});
    my $payload = defined $a{payload} ? $a{payload} : claims(%a);

    return Crypt::JWT::encode_jwt(
        payload       => $payload,
        alg           => $alg,
        key           => $key,
        extra_headers => _header(%a),
    );
}

# alg none: an unsigned token, header.payload. (empty signature)
sub unsigned {
    my (%a) = @_;

    return Crypt::JWT::encode_jwt(
        payload       => claims(%a),
        alg           => 'none',
        allow_none    => 1,
        extra_headers => _header(%a, kid => exists $a{kid} ? $a{kid} : 'rsa1'),
    );
}

# algorithm confusion: HS256 keyed with an RSA public key PEM, as a
# verifier that takes "the key" for an HMAC secret would accept
sub confused {
    my (%a) = @_;
    my $pem = public_pem($a{key} || 'rsa1');

    return mint(%a, alg => 'HS256', key => undef, secret => $pem,
                kid => exists $a{kid} ? $a{kid} : undef);
}

# header and payload given as raw text, signed over exactly those bytes
sub raw {
    my (%a) = @_;
    my $name = $a{key} || 'rsa1';
    my $alg = $a{alg} || $ALG{$name};
    my $input = b64($a{header}) . '.' . b64($a{payload});
    my $sig;

    if ($alg =~ /^RS(\d+)$/) {
        $sig = key($name)->sign_message($input, "SHA$1", 'v1.5');
    } elsif ($alg =~ /^ES(\d+)$/) {
        $sig = key($name)->sign_message_rfc7518($input, "SHA$1");
    } elsif ($alg =~ /^HS(\d+)$/) {
        $sig = Crypt::Mac::HMAC::hmac("SHA$1", key($name), $input);
    } else {
        die "ZT::Token::raw: alg $alg";
    }

    return "$input." . b64($sig);
}

# the same token with one bit of its signature flipped
sub flip_sig {
    my ($token) = @_;
    my ($h, $p, $s) = split /\./, $token, -1;
    my $sig = unb64($s);

    substr($sig, 0, 1) = chr(ord(substr($sig, 0, 1)) ^ 0x01);

    return "$h.$p." . b64($sig);
}

# header.payload only
sub two_segments {
    my ($token) = @_;
    my ($h, $p) = split /\./, $token, -1;

    return "$h.$p";
}

# a character outside the base64url alphabet in the payload segment
sub bad_b64 {
    my ($token) = @_;
    my ($h, $p, $s) = split /\./, $token, -1;

    substr($p, 1, 1) = '+';

    return "$h.$p.$s";
}

# a validly signed token larger than $size bytes (default 9000)
sub huge {
    my (%a) = @_;
    my $size = delete $a{size} || 9000;
    my $token = mint(%a, claims => { %{ $a{claims} || {} },
                                     pad => 'x' x ($size * 3 / 4) });

    die "ZT::Token::huge: too small" if length($token) <= $size;

    return $token;
}

# one public JWK (a hash) of a fixture (rsa1, ec1, hs1 ...) under a kid
# (default: the fixture's name; undef: none), or of raw oct bytes given as
# { secret => $bytes }, with extra members from %extra
sub jwk {
    my ($name, $kid, %extra) = @_;
    my $j;

    if (ref $name) {
        $j = { kty => 'oct', k => b64($name->{secret}) };
    } elsif ($name =~ /^hs/) {
        $j = { kty => 'oct', k => b64(key($name)) };
    } else {
        $j = key($name)->export_key_jwk('public', 1);
    }

    $j->{kid} = @_ > 1 ? $kid : $name unless ref $name && @_ < 2;
    delete $j->{kid} unless defined $j->{kid};

    return { %$j, %extra };
}

# a JWKS document (JSON text): each argument a fixture name (its kid is
# the name) or [name, kid, extra members...], as jwk() takes them
sub jwks {
    my @keys = map { ref $_ eq 'ARRAY' ? jwk(@$_) : jwk($_) } @_;

    return JSON::PP->new->canonical->encode({ keys => \@keys });
}

# what the module logs instead of a token: 16 hex of its SHA-256
sub fp {
    my ($token) = @_;
    return substr(Digest::SHA::sha256_hex($token), 0, 16);
}

1;
