# Identity: how a token is spelled.  Base64url with exactly one spelling
# per value (no padding, no stray bits), ECDSA signatures whose R and S
# start with zero bytes or high bits (their DER form differs), and JOSE
# headers and claims read as jansson reads them: escapes, duplicates,
# "\u0000", nested arrays.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use Digest::SHA ();
use Math::BigInt lib => 'LTM';

log_level('info');
no_shuffle();

our $Backend = <<'_EOC_';
    location = /backend {
        echo "backend saw a request";
    }
_EOC_

our $Location = <<'_EOC_';
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        add_header X-Sub $zt_sub always;
        add_header X-Scopes $zt_scopes always;
        add_header X-Groups $zt_groups always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    my $config = defined $block->config ? $block->config : $Location;
    $block->set_value('config', $config . $Backend);

    $block->set_value('request', "GET /t\n") unless defined $block->request;

    # --- token: NAME  the token of %T sent as a bearer token
    if (defined $block->token) {
        (my $name = $block->token) =~ s/\s+$//;
        die "no token $name" unless defined $main::T{$name};
        $block->set_value('more_headers',
                          "Authorization: Bearer $main::T{$name}");
    }
});

my $now = time;

my %ALPHABET;
@ALPHABET{('A' .. 'Z', 'a' .. 'z', '0' .. '9', '-', '_')} = (0 .. 63);
my @CHARS = sort { $ALPHABET{$a} <=> $ALPHABET{$b} } keys %ALPHABET;

# the same base64url text with the lowest of its last character's unused
# bits set: the same bytes to a decoder that ignores them
sub stray_bits {
    my ($b64) = @_;
    die "no unused bits in a text of length " . length($b64)
        unless length($b64) % 4 == 2 || length($b64) % 4 == 3;
    my $v = $ALPHABET{substr($b64, -1)};
    die "not canonical" if $v & 1;
    return substr($b64, 0, -1) . $CHARS[$v | 1];
}

# header.payload as given (base64url text, any spelling), signed by rsa1
sub rs256_over {
    my ($h, $p) = @_;
    my $sig = ZT::Token::key('rsa1')->sign_message("$h.$p", 'SHA256', 'v1.5');
    return "$h.$p." . ZT::Token::b64($sig);
}

sub seg { return (split /\./, $_[0], -1)[$_[1]] }

my $claims = '{"sub":"alice","iss":"https://issuer.zt.test","aud":"zt-gateway",'
           . '"scope":"inference:invoke","exp":' . ($now + 300);
my $hdr = '{"alg":"RS256","kid":"rsa1"}';

# a payload whose base64url has 2 unused bits: its length is 2 mod 3
my $payload = $claims . '}';
$payload = $claims . ',"p":"' . ('x' x ((2 - length($claims . ',"p":""}')) % 3))
           . '"}' if length($payload) % 3 != 2;

# ---- ECDSA P-256 by hand, with the fixture key ec1, so that R and S can
# be chosen among deterministic signatures (k, k + 1, ...); CryptX checks
# every one it hands out

my $EC = ZT::Token::key('ec1')->key2hash;
my ($P, $N, $A) = map { Math::BigInt->from_hex($EC->{$_}) }
                      qw(curve_prime curve_order curve_A);
my $G = [map { Math::BigInt->from_hex($EC->{$_}) } qw(curve_Gx curve_Gy)];
my $D = Math::BigInt->from_hex($EC->{k});

sub ec_add {
    my ($p, $q) = @_;
    return $q unless $p;
    return $p unless $q;
    my ($x1, $y1, $x2, $y2) = (@$p, @$q);
    my $l;
    if ($x1 == $x2) {
        return undef if ($y1 + $y2) % $P == 0;
        $l = (3 * $x1 * $x1 + $A) * ((2 * $y1) % $P)->bmodinv($P) % $P;
    } else {
        $l = ($y2 - $y1) * (($x2 - $x1) % $P)->bmodinv($P) % $P;
    }
    my $x3 = ($l * $l - $x1 - $x2) % $P;
    return [$x3, ($l * ($x1 - $x3) - $y1) % $P];
}

sub ec_mul {
    my ($k, $pt) = @_;
    my $r;
    for my $bit (split //, substr($k->as_bin, 2)) {
        $r = ec_add($r, $r);
        $r = ec_add($r, $pt) if $bit;
    }
    return $r;
}

sub int32 { return pack 'H*', substr('0' x 64 . substr($_[0]->as_hex, 2), -64) }

# the first signatures (from k = K0 on) of an ES256 token whose R and S
# pass each test of %want
sub es256_shapes {
    my (%want) = @_;
    my $input = ZT::Token::b64('{"alg":"ES256","kid":"ec1","typ":"JWT"}') . '.'
              . ZT::Token::b64($claims . ',"jti":"shapes"}');
    my $e = Math::BigInt->from_hex(Digest::SHA::sha256_hex($input));
    my $k = Math::BigInt->from_hex(substr(Digest::SHA::sha256_hex('zt-k0'), 0, 60));
    my $R = ec_mul($k, $G);
    my $pub = Crypt::PK::ECC->new(\ZT::Token::public_pem('ec1'));
    my %found;

    for (1 .. 20000) {
        my $r = $R->[0] % $N;
        my $s = $k->copy->bmodinv($N) * ($e + $r * $D) % $N;

        for my $sv ($s, $N - $s) {
            my ($rb, $sb) = (int32($r), int32($sv));
            for my $name (grep { !$found{$_} } keys %want) {
                next unless $want{$name}->($rb, $sb);
                die "CryptX refuses $name"
                    unless $pub->verify_message_rfc7518($rb . $sb, $input,
                                                        'SHA256');
                $found{$name} = "$input." . ZT::Token::b64($rb . $sb);
            }
        }

        return %found if keys %found == keys %want;
        $k += 1;
        $R = ec_add($R, $G);
    }

    die "no signature for " . join(', ', grep { !$found{$_} } keys %want);
}

sub b0 { return ord(substr($_[0], $_[1], 1)) }

my %ES = es256_shapes(
    r_zero      => sub { b0($_[0], 0) == 0 && b0($_[0], 1) < 0x80 },
    r_zero_high => sub { b0($_[0], 0) == 0 && b0($_[0], 1) >= 0x80 },
    r_high      => sub { b0($_[0], 0) >= 0x80 && b0($_[1], 0) < 0x80 },
    s_zero      => sub { b0($_[1], 0) == 0 && b0($_[1], 1) < 0x80 },
    s_zero_high => sub { b0($_[1], 0) == 0 && b0($_[1], 1) >= 0x80 },
    both_high   => sub { b0($_[0], 0) >= 0x80 && b0($_[1], 0) >= 0x80 },
    both_low    => sub { b0($_[0], 0) > 0 && b0($_[0], 0) < 0x80
                         && b0($_[1], 0) > 0 && b0($_[1], 0) < 0x80 },
);

my $es = ZT::Token::mint(key => 'ec1');
my $es_sig = ZT::Token::unb64(seg($es, 2));
my $rs = ZT::Token::mint();

# an ES256 signature as DER, the form EVP takes and JWS does not
sub der_int {
    my ($v) = @_;
    $v =~ s/^\0+(?=.)//s;
    $v = "\0$v" if ord($v) >= 0x80;
    return "\x02" . chr(length $v) . $v;
}

my $der = der_int(substr($es_sig, 0, 32)) . der_int(substr($es_sig, 32));
$der = "\x30" . chr(length $der) . $der;

our %T = (
    %ES,
    valid       => $rs,
    valid_es    => $es,

    # base64url
    sig_bits    => seg($rs, 0) . '.' . seg($rs, 1) . '.' . stray_bits(seg($rs, 2)),
    es_sig_bits => seg($es, 0) . '.' . seg($es, 1) . '.' . stray_bits(seg($es, 2)),
    hdr_bits    => rs256_over(stray_bits(ZT::Token::b64($hdr)),
                              ZT::Token::b64($payload)),
    body_bits   => rs256_over(ZT::Token::b64($hdr),
                              stray_bits(ZT::Token::b64($payload))),
    body_plain  => rs256_over(ZT::Token::b64($hdr), ZT::Token::b64($payload)),
    sig_pad     => "$rs==",
    es_sig_pad  => "$es==",
    body_pad    => rs256_over(ZT::Token::b64($hdr), ZT::Token::b64($payload) . '='),
    mid_pad     => rs256_over(ZT::Token::b64($hdr),
                              substr(ZT::Token::b64($payload), 0, 8) . '='
                              . substr(ZT::Token::b64($payload), 9)),
    std_alpha   => seg($rs, 0) . '.' . seg($rs, 1) . '.'
                   . (seg($rs, 2) =~ tr{-_}{+/}r),
    one_char    => rs256_over(ZT::Token::b64($hdr),
                              ZT::Token::b64($payload)
                              . ('A' x ((1 - length ZT::Token::b64($payload)) % 4))),

    # ECDSA
    es_der      => seg($es, 0) . '.' . seg($es, 1) . '.' . ZT::Token::b64($der),
    es_r_zero   => seg($es, 0) . '.' . seg($es, 1) . '.'
                   . ZT::Token::b64(("\0" x 32) . substr($es_sig, 32)),
    es_r_order  => seg($es, 0) . '.' . seg($es, 1) . '.'
                   . ZT::Token::b64(int32($N) . substr($es_sig, 32)),
    es_s_plus_n => seg($es, 0) . '.' . seg($es, 1) . '.'
                   . ZT::Token::b64(substr($es_sig, 0, 32)
                        . int32(Math::BigInt->from_bytes(substr($es_sig, 32))
                                + $N)),

    # the JOSE header
    hdr_escaped => ZT::Token::raw(header => '{"\u0061lg":"\u0052S256",'
                                          . '"kid":"\u0072sa1","typ":"J\u0057T"}',
                                  payload => $payload),
    hdr_twice   => ZT::Token::raw(header => '{"alg":"RS256","kid":"rsa1",'
                                          . '"\u0061lg":"none"}',
                                  payload => $payload),
    hdr_nul     => ZT::Token::raw(header => '{"alg":"RS256\u0000","kid":"rsa1"}',
                                  payload => $payload),
    hdr_nul_x   => ZT::Token::raw(header => '{"alg":"RS256","kid":"rsa1",'
                                          . '"x":"\u0000"}',
                                  payload => $payload),
    hdr_nested  => ZT::Token::raw(header => qq({\n "alg" : "RS256" ,\t"kid":"rsa1",)
                                          . '"x":{"alg":"none","y":[1,{"kid":2}]},'
                                          . '"z":[null,true,1.5e3]}',
                                  payload => $payload),
    hdr_kid_obj => ZT::Token::raw(header => '{"alg":"RS256","kid":{"x":"rsa1"}}',
                                  payload => $payload),
    hdr_alg_arr => ZT::Token::raw(header => '{"alg":["RS256"],"kid":"rsa1"}',
                                  payload => $payload),
    hdr_typ_num => ZT::Token::raw(header => '{"alg":"RS256","kid":"rsa1","typ":1}',
                                  payload => $payload),
    hdr_trailing => ZT::Token::raw(header => '{"alg":"RS256","kid":"rsa1"},',
                                   payload => $payload),
    hdr_utf16   => ZT::Token::raw(header => "\xff\xfe{\0\"\0a\0l\0g\0\"\0}\0",
                                  payload => $payload),

    # the claims
    body_escaped => ZT::Token::raw(header => $hdr, payload =>
        '{"\u0073ub":"\u0061lice \u00e9\ud83d\ude00","iss":"https://issuer.zt.test",'
        . '"sc\u006fpe":"inference:invoke","exp":' . ($now + 300) . '}'),
    body_twice   => ZT::Token::raw(header => $hdr, payload =>
        $claims . ',"\u0073ub":"mallory"}'),
    body_twice_many => ZT::Token::raw(header => $hdr, payload =>
        $claims . join('', map { ",\"m$_\":$_" } 1 .. 12) . ',"sub":"mallory"}'),
    body_nul     => ZT::Token::raw(header => $hdr, payload =>
        $claims . ',"x":"a\u0000b"}'),
    sub_nul      => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice\u0000admin","iss":"https://issuer.zt.test",'
        . '"scope":"inference:invoke","exp":' . ($now + 300) . '}'),
    exp_huge_int => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":"inference:invoke","exp":'
        . '99999999999999999999}'),
    exp_real_far => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":"inference:invoke","exp":1e300}'),
    exp_real_past => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":"inference:invoke","exp":1.5e9}'),
    exp_minus_zero => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":"inference:invoke","exp":-0}'),
    exp_true     => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":"inference:invoke","exp":true}'),
    nbf_string   => ZT::Token::raw(header => $hdr, payload =>
        $claims . ',"nbf":"0"}'),
    iss_array    => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":"inference:invoke","iss":["https://issuer.zt.test"],'
        . '"exp":' . ($now + 300) . '}'),
    aud_nested   => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":"inference:invoke","aud":["x",["zt-gateway"],'
        . '{"a":"zt-gateway"}],"exp":' . ($now + 300) . '}'),
    aud_nested_ok => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":"inference:invoke","aud":["x",["y"],1,'
        . '"zt-gateway"],"exp":' . ($now + 300) . '}'),
    aud_flat     => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":"inference:invoke","aud":[null,"x",2,'
        . '"zt-\u0067ateway"],"exp":' . ($now + 300) . '}'),
    aud_object   => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":"inference:invoke","aud":{"zt-gateway":1},'
        . '"exp":' . ($now + 300) . '}'),
    scope_nested => ZT::Token::raw(header => $hdr, payload =>
        '{"sub":"alice","scope":["inference:invoke",["admin"],{"x":"admin"},'
        . '"", 7, "read"],"exp":' . ($now + 300) . '}'),
    groups_mixed => ZT::Token::raw(header => $hdr, payload =>
        $claims . ',"groups":["ops",1,"",null,"m\u006c",{"g":"root"}]}'),
    groups_flat  => ZT::Token::raw(header => $hdr, payload =>
        $claims . ',"groups":["ops",1,"",null,"m\u006c"]}'),
    groups_str   => ZT::Token::raw(header => $hdr, payload =>
        $claims . ',"groups":"a b"}'),
);

run_tests();

__DATA__

=== TEST 1: the untouched RS256 token passes (the control of this file)
--- token: valid
--- error_code: 200
--- response_body
backend saw a request



=== TEST 2: an RS256 signature segment with a stray bit in its last character is refused
--- token: sig_bits
--- error_code: 401
--- response_body_like: malformed token: bad base64url
--- error_log
zt: invalid token: malformed token: bad base64url, fp=



=== TEST 3: an ES256 signature segment with a stray bit in its last character is refused
--- token: es_sig_bits
--- error_code: 401
--- response_body_like: malformed token: bad base64url



=== TEST 4: a header spelled with a stray bit (and signed so) is refused
--- token: hdr_bits
--- error_code: 401
--- response_body_like: malformed token: bad base64url



=== TEST 5: a payload spelled with a stray bit (and signed so) is refused, its plain spelling passes
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $::T{body_bits}", "Authorization: Bearer $::T{body_plain}"]
--- error_code eval
[401, 200]
--- response_body_like eval
["malformed token: bad base64url", "backend saw a request"]



=== TEST 6: padding after the RS256 signature is refused
--- token: sig_pad
--- error_code: 401
--- response_body_like: malformed token: bad base64url



=== TEST 7: padding after the ES256 signature is refused
--- token: es_sig_pad
--- error_code: 401
--- response_body_like: malformed token: bad base64url



=== TEST 8: a padded payload (signed so) is refused
--- token: body_pad
--- error_code: 401
--- response_body_like: malformed token: bad base64url



=== TEST 9: a "=" inside a segment (signed so) is refused, not read as its end
--- token: mid_pad
--- error_code: 401
--- response_body_like: malformed token: bad base64url



=== TEST 10: the standard alphabet's "+" and "/" are refused
--- token: std_alpha
--- error_code: 401
--- response_body_like: malformed token: bad base64url



=== TEST 11: a segment one character longer than whole bytes allow is refused
--- token: one_char
--- error_code: 401
--- response_body_like: malformed token: bad base64url



=== TEST 12: ES256 with R starting with a zero byte passes
--- token: r_zero
--- error_code: 200



=== TEST 13: ES256 with R starting with a zero byte and then a high bit passes
--- token: r_zero_high
--- error_code: 200



=== TEST 14: ES256 with R's high bit set passes
--- token: r_high
--- error_code: 200



=== TEST 15: ES256 with S starting with a zero byte passes
--- token: s_zero
--- error_code: 200



=== TEST 16: ES256 with S starting with a zero byte and then a high bit passes
--- token: s_zero_high
--- error_code: 200



=== TEST 17: ES256 with the high bits of both R and S set passes
--- token: both_high
--- error_code: 200



=== TEST 18: ES256 with neither high bit set passes
--- token: both_low
--- error_code: 200



=== TEST 19: an ES256 signature sent as DER, not R || S, is refused
--- token: es_der
--- error_code: 401
--- response_body_like: invalid signature



=== TEST 20: an ES256 signature with R = 0 is refused
--- token: es_r_zero
--- error_code: 401
--- response_body_like: invalid signature



=== TEST 21: an ES256 signature with R = the group order is refused
--- token: es_r_order
--- error_code: 401
--- response_body_like: invalid signature



=== TEST 22: an ES256 signature with S + n (the same S modulo n, too wide) is refused
--- token: es_s_plus_n
--- error_code: 401
--- response_body_like: invalid signature



=== TEST 23: header names and values are read unescaped, as jansson reads them
--- token: hdr_escaped
--- error_code: 200



=== TEST 24: a header naming alg twice, once escaped, is refused
--- token: hdr_twice
--- error_code: 401
--- response_body_like: malformed token: header is not a JSON object



=== TEST 25: a header with "\u0000" in alg is refused as not JSON, as jansson refuses it
--- token: hdr_nul
--- error_code: 401
--- response_body_like: malformed token: header is not a JSON object



=== TEST 26: a header with "\u0000" in any string is refused
--- token: hdr_nul_x
--- error_code: 401
--- response_body_like: malformed token: header is not a JSON object



=== TEST 27: whitespace and nested members of a header are read; only its own alg and kid count
--- token: hdr_nested
--- error_code: 200



=== TEST 28: a kid that is an object is refused
--- token: hdr_kid_obj
--- error_code: 401
--- response_body_like: malformed token: kid is not a string



=== TEST 29: an alg that is an array is no alg
--- token: hdr_alg_arr
--- error_code: 401
--- response_body_like: missing alg



=== TEST 30: a typ that is a number is refused
--- token: hdr_typ_num
--- error_code: 401
--- response_body_like: unsupported typ



=== TEST 31: a header with a trailing comma is refused
--- token: hdr_trailing
--- error_code: 401
--- response_body_like: malformed token: header is not a JSON object



=== TEST 32: a header in UTF-16 is refused
--- token: hdr_utf16
--- error_code: 401
--- response_body_like: malformed token: header is not a JSON object



=== TEST 33: claim names and values are read unescaped
--- token: body_escaped
--- error_code: 200
--- response_headers
X-Sub: alice é😀
X-Scopes: inference:invoke



=== TEST 34: a payload naming sub twice, once escaped, is refused
--- token: body_twice
--- error_code: 401
--- response_body_like: malformed token: payload is not a JSON object
--- response_headers
X-Sub:



=== TEST 35: a payload of many claims naming sub twice is refused
--- token: body_twice_many
--- error_code: 401
--- response_body_like: malformed token: payload is not a JSON object



=== TEST 36: a payload with "\u0000" in any string is refused, as jansson refuses it
--- token: body_nul
--- error_code: 401
--- response_body_like: malformed token: payload is not a JSON object



=== TEST 37: a sub with "\u0000" in it is refused, never cut or passed on
--- token: sub_nul
--- error_code: 401
--- response_body_like: malformed token: payload is not a JSON object
--- response_headers
X-Sub:



=== TEST 38: an exp beyond 64-bit integers is refused as not JSON, as jansson refuses it
--- token: exp_huge_int
--- error_code: 401
--- response_body_like: malformed token: payload is not a JSON object



=== TEST 39: an exp of 1e300 is a date far ahead
--- token: exp_real_far
--- error_code: 200



=== TEST 40: an exp of 1.5e9 is in the past
--- token: exp_real_past
--- error_code: 401
--- response_body_like: token expired



=== TEST 41: an exp of -0 is in the past
--- token: exp_minus_zero
--- error_code: 401
--- response_body_like: token expired



=== TEST 42: an exp of true is not a number
--- token: exp_true
--- error_code: 401
--- response_body_like: malformed token: exp is not a number



=== TEST 43: an nbf that is a string is not a number
--- token: nbf_string
--- error_code: 401
--- response_body_like: malformed token: nbf is not a number



=== TEST 44: an iss that is an array is refused
--- token: iss_array
--- error_code: 401
--- response_body_like: malformed token: iss is not a string



=== TEST 45: an aud array counts its own strings, not those nested in it
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_audience zt-gateway;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $::T{aud_nested}", "Authorization: Bearer $::T{aud_nested_ok}",
 "Authorization: Bearer $::T{aud_flat}", "Authorization: Bearer $::T{aud_object}"]
--- error_code eval
[401, 200, 200, 401]
--- response_body_like eval
["audience not accepted", "backend saw", "backend saw", "audience not accepted"]



=== TEST 46: a scope array gives its own non-empty strings, not those nested in it
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy deny scope=admin;
        zt_policy allow scope=read;
        add_header X-Scopes $zt_scopes always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- token: scope_nested
--- error_code: 200
--- response_headers
X-Scopes: inference:invoke read



=== TEST 47: a groups array gives its own non-empty strings, nested in it or not
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $::T{groups_mixed}", "Authorization: Bearer $::T{groups_flat}",
 "Authorization: Bearer $::T{groups_str}"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Groups: ops ml", "X-Groups: ops ml", "X-Groups: a b"]



=== TEST 48: a dotted scope claim walks nested objects and still reads escapes
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_scope_claim realm.roles;
        zt_policy allow scope=admin;
        add_header X-Scopes $zt_scopes always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::raw(header => '{"alg":"RS256","kid":"rsa1"}',
    payload => '{"sub":"alice","exp":' . (time + 300)
               . ',"realm":{"r\u006fles":["\u0061dmin",["x"]]}}')
--- error_code: 200
--- response_headers
X-Scopes: admin
