#!/bin/sh
# Makes the demo keys, JWKS, model credential and tokens on first start
# (in /etc/nginx), prints the tokens, then runs nginx in the foreground.
set -eu
cd /etc/nginx

if [ ! -f signing.pem ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out signing.pem 2>/dev/null
    perl /src/demo/mint.pl --key signing.pem --kid demo --jwks > jwks.json
    echo "sk-model-demo-$(openssl rand -hex 8)" > model.key
fi

for who in "alice inference:invoke" "rita inference:invoke zt:review"; do
    set -- $who
    sub=$1; shift
    echo "token for $sub: $(perl /src/demo/mint.pl --key signing.pem \
        --kid demo --iss https://demo.zt-inference.local --aud zt-inference \
        --sub "$sub" --scope "$*")"
done

exec nginx -g 'daemon off;'
