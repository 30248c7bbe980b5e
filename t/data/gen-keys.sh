#!/bin/sh
# Makes the test keys and JWKS fixtures of t/data (committed: run it again
# only to rotate them; every test mints its tokens from these files).
#
#   rsa1, rsa2      RSA 2048 (kid rsa1, rsa2)
#   ec1, ec384,     EC P-256, P-384, P-521 (kid ec1, ec384, ec521)
#   ec521
#   hs1             an oct secret (kid hs1), raw bytes in hs1.secret
#
#   jwks.json           rsa1, ec1, ec384, hs1
#   jwks-rotated.json   rsa2 only
#   jwks-es512.json     ec521 only
#   jwk-ec1.json        ec1 as a single JWK (no "keys" array)
#   jwks-empty.json     keys that are all unusable (use enc, OKP, short oct)
#   not-a-key.txt       neither JSON nor PEM
set -eu

cd "$(dirname "$0")"

for k in rsa1 rsa2; do
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out $k.pem 2>/dev/null
    openssl pkey -in $k.pem -pubout -out $k.pub.pem
done

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec1.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out ec521.pem
for k in ec1 ec384 ec521; do
    openssl pkey -in $k.pem -pubout -out $k.pub.pem
done

# 48 random bytes, base64url-safe as text so that tests can pass it around
openssl rand -base64 48 | tr -d '\n' | tr '+/' '-_' > hs1.secret

perl -MCrypt::PK::RSA -MCrypt::PK::ECC -MJSON::PP -MMIME::Base64 -e '
    sub jwk {
        my ($kid, $file) = @_;
        my $pk = $file =~ /^ec/ ? Crypt::PK::ECC->new($file)
                                : Crypt::PK::RSA->new($file);
        my $j = $pk->export_key_jwk("public", 1);
        return { %$j, kid => $kid, use => "sig" };
    }
    sub octkey {
        open my $fh, "<", "hs1.secret" or die;
        local $/;
        my $k = MIME::Base64::encode_base64url(<$fh>);
        return { kty => "oct", kid => "hs1", k => $k };
    }
    sub put {
        my ($file, $v) = @_;
        open my $fh, ">", $file or die;
        print $fh JSON::PP->new->canonical->pretty->encode($v);
    }
    put("jwks.json", { keys => [ jwk("rsa1", "rsa1.pub.pem"),
                                 jwk("ec1", "ec1.pub.pem"),
                                 jwk("ec384", "ec384.pub.pem"),
                                 octkey() ] });
    put("jwks-rotated.json", { keys => [ jwk("rsa2", "rsa2.pub.pem") ] });
    put("jwks-es512.json", { keys => [ jwk("ec521", "ec521.pub.pem") ] });
    put("jwk-ec1.json", jwk("ec1", "ec1.pub.pem"));

    my $enc = jwk("enc1", "rsa1.pub.pem");
    $enc->{use} = "enc";
    put("jwks-empty.json", { keys => [
        $enc,
        { kty => "OKP", crv => "Ed25519", kid => "ed1",
          x => "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
        { kty => "oct", kid => "short", k => "c2hvcnQ" } ] });
'

printf 'this is not a key\n' > not-a-key.txt
