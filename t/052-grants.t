# Just-in-time grants: a reviewer gives a subject a scope until its TTL,
# lists and revokes grants; a rule's scope= condition holds with an active
# grant when the token lacks the scope.  The configuration accepts one
# issuer, so that the API may leave it out.  Blocks run in order and share
# the grants in Redis.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Redis;
use Time::HiRes ();

no_shuffle();
repeat_each(1);

sub token {
    my ($sub, $scope) = @_;
    return ZT::Token::mint(claims => { sub => $sub, scope => $scope },
                           exp_in => 3600);
}

# a subject of its own per run: grants of earlier runs cannot interfere
our $Sub     = 'gina-' . time . "-$$";
our $Gina    = token($Sub, 'inference:invoke');
our $Rita    = token('rita', 'approvals:review');
our $Mallory = token('mallory', 'inference:invoke');
our $Odd     = token("auth0|$$/odd", 'inference:invoke');

ZT::Redis::start();
run_tests();

__DATA__

=== TEST 1: without a grant a token lacking the scope is refused
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt052:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location = /v1/large {
        zt_policy allow scope=models:large;
        add_header X-ZT-Audit $zt_audit always;
        echo "LARGE OK";
    }
    location /zt/ {
        zt_policy allow scope=approvals:review;
        zt_approval_api;
        add_header X-ZT-Audit $zt_audit always;
    }
--- request
GET /v1/large
--- more_headers eval
"Authorization: Bearer $::Gina"
--- error_code: 403
--- response_body_unlike chomp
LARGE OK



=== TEST 2: a reviewer grants the scope for 2s: 201, the grant, audited
--- request eval
"POST /zt/grants\n{\"sub\":\"$::Sub\",\"scope\":\"models:large\",\"ttl\":\"2s\",\"reason\":\"demo\"}"
--- more_headers eval
"Authorization: Bearer $::Rita\nContent-Type: application/json"
--- error_code: 201
--- response_body_like eval
qr/^\{"grant":\{(?=.*"sub":"\Q$::Sub\E")(?=.*"scope":"models:large")(?=.*"granted_by":"rita")(?=.*"reason":"demo")(?=.*"expires_at":\d{10})(?=.*"created_at":\d{10}).*\}\}$/s
--- response_headers_like
X-ZT-Audit: .*"event":"grant.create","reviewer":"rita",.*
--- error_log eval
qr/zt: "rita" grants scope "models:large" to sub "\Q$::Sub\E" of "https:\/\/issuer\.zt\.test" for 2 s/



=== TEST 3: with the grant the rule's scope= holds
--- request
GET /v1/large
--- more_headers eval
"Authorization: Bearer $::Gina"
--- error_code: 200
--- response_body
LARGE OK
--- error_log eval
qr/zt: sub "\Q$::Sub\E" holds a grant of scope "models:large"/



=== TEST 4: the reviewer lists the subject's grants
--- request eval
"GET /zt/grants?sub=$::Sub"
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like eval
qr/^\{"grants":\[\{(?=[^}]*"scope":"models:large")(?=[^}]*"sub":"\Q$::Sub\E")[^}]*\}\]\}$/



=== TEST 5: once the TTL is over the scope is gone again
--- init
Time::HiRes::sleep(2.2);
--- request
GET /v1/large
--- more_headers eval
"Authorization: Bearer $::Gina"
--- error_code: 403



=== TEST 6: ... and the grant is no longer listed
--- request eval
"GET /zt/grants?sub=$::Sub"
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body
{"grants":[]}



=== TEST 7: granted again for 10m ...
--- request eval
["POST /zt/grants\n{\"sub\":\"$::Sub\",\"scope\":\"models:large\",\"ttl\":\"10m\"}",
 "GET /v1/large"]
--- more_headers eval
["Authorization: Bearer $::Rita", "Authorization: Bearer $::Gina"]
--- error_code eval
[201, 200]



=== TEST 8: ... revoked: 200, audited
--- request eval
"DELETE /zt/grants/$::Sub/models:large"
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body eval
"{\"grant\":{\"iss\":\"https://issuer.zt.test\",\"sub\":\"$::Sub\",\"scope\":\"models:large\",\"status\":\"revoked\"}}\n"
--- response_headers_like
X-ZT-Audit: .*"event":"grant.revoke","reviewer":"rita",.*
--- error_log eval
qr/zt: "rita" revoked scope "models:large" of sub "\Q$::Sub\E" of "https:\/\/issuer\.zt\.test"/



=== TEST 9: ... and the scope is gone at once
--- request
GET /v1/large
--- more_headers eval
"Authorization: Bearer $::Gina"
--- error_code: 403



=== TEST 10: revoking what is not granted: 404
--- request eval
"DELETE /zt/grants/$::Sub/models:large"
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 404
--- response_body_like chomp
"code":"grant_unknown"



=== TEST 11: a subject with "|" and "/" is revoked with ?sub=&scope=; in the path its %2F is a "/" to nginx: 404
--- request eval
my $sub = "auth0|$$/odd";
(my $enc = $sub) =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
["POST /zt/grants\n{\"sub\":\"$sub\",\"scope\":\"models:large\",\"ttl\":60}",
 "GET /v1/large",
 "DELETE /zt/grants/$enc/models%3Alarge",
 "GET /v1/large",
 "DELETE /zt/grants?sub=$enc&scope=models%3Alarge",
 "GET /v1/large"]
--- more_headers eval
["Authorization: Bearer $::Rita", "Authorization: Bearer $::Odd",
 "Authorization: Bearer $::Rita", "Authorization: Bearer $::Odd",
 "Authorization: Bearer $::Rita", "Authorization: Bearer $::Odd"]
--- error_code eval
[201, 200, 404, 200, 200, 403]



=== TEST 12: a reviewer cannot grant themselves a scope: 403
--- request
POST /zt/grants
{"sub":"rita","scope":"models:large","ttl":"1h"}
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 403
--- response_body_like chomp
"code":"self_grant"



=== TEST 13: a caller without the reviewer scope cannot grant: 403
--- request
POST /zt/grants
{"sub":"mallory","scope":"models:large","ttl":"1h"}
--- more_headers eval
"Authorization: Bearer $::Mallory"
--- error_code: 403
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="insufficient_scope"



=== TEST 14: bad grants are refused with 400: ttl, sub, scope, body
--- request eval
["POST /zt/grants\n{\"sub\":\"x\",\"scope\":\"s\",\"ttl\":\"forever\"}",
 "POST /zt/grants\n{\"sub\":\"x\",\"scope\":\"s\",\"ttl\":0}",
 "POST /zt/grants\n{\"sub\":\"x\",\"scope\":\"s\",\"ttl\":\"8d\"}",
 "POST /zt/grants\n{\"scope\":\"s\",\"ttl\":\"1m\"}",
 "POST /zt/grants\n{\"sub\":\"x\",\"scope\":\"two scopes\",\"ttl\":\"1m\"}",
 "POST /zt/grants\n[1,2]",
 "POST /zt/grants"]
--- more_headers eval
[("Authorization: Bearer $::Rita") x 7]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400]
--- response_body_like eval
[('"code":"invalid_(grant|json)"') x 7]



=== TEST 15: listing grants needs ?sub=
--- request
GET /zt/grants
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 400
--- response_body_like chomp
grants are listed by subject
