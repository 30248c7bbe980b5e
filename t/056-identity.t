# Approvals and grants belong to a caller, and a caller is the token's
# issuer and subject together: "bob" of IdP A and "bob" of IdP B are two
# people.  An approval parked by one is not the other's to use; a grant
# made for one does not serve the other; the self-approval and self-grant
# checks compare both; a token without "iss" or "sub" cannot park or retry.
# Grant keys cannot be confused whatever the issuer or subject hold.  With
# tokens of several issuers accepted, the reviewer API must be told the
# issuer (iss in a grant, ?iss= otherwise); with one, it may be left out.
#
# Blocks run in order and share Redis (prefix zt056:).
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Redis;

no_shuffle();
repeat_each(1);

our $A = 'https://idp-a.test';
our $B = 'https://idp-b.test';

our $Files = ">>> idp-a.json\n" . ZT::Token::jwks(['rsa1', 'a1']) . "\n"
           . ">>> idp-b.json\n" . ZT::Token::jwks(['ec1', 'b1']) . "\n";

sub tok {
    my ($iss, $sub, $scope) = @_;
    my %k = defined $iss && $iss eq $B ? (key => 'ec1', kid => 'b1')
                                       : (key => 'rsa1', kid => 'a1');
    return ZT::Token::mint(%k, exp_in => 3600,
                           claims => { iss => $iss, sub => $sub,
                                       scope => $scope });
}

our $Run = time . "-$$";
our $Bob = "bob-$Run";

our $BobA   = tok($A, $Bob, 'inference:invoke');
our $BobB   = tok($B, $Bob, 'inference:invoke');
our $RitaA  = tok($A, 'rita', 'zt:review');
our $RitaB  = tok($B, 'rita', 'zt:review inference:invoke');
our $NoSub  = tok($A, undef, 'inference:invoke');
our $NoIss  = tok(undef, $Bob, 'inference:invoke');
our $Colon  = tok($A, 'x:y', 'inference:invoke');

our $Body   = qq({"prompt":"needs approval","run":"$Run"});
our $Body2  = qq({"prompt":"needs approval, second","run":"$Run"});
our $Body3  = qq({"prompt":"needs approval, third","run":"$Run"});

our %Id;

add_response_body_check(sub {
    my ($block, $body) = @_;
    my $name = $block->capture or return;
    $Id{$name} = $1 if $body =~ /"id":"([0-9a-f]{32})"/;
});

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('user_files', $Files) unless defined $block->user_files;
    for my $section (qw(request more_headers response_body_like)) {
        my $v = $block->$section;
        next unless defined $v;
        my @v = map {
            my $s = $_;
            $s =~ s/%%(\w+)%%/defined $Id{$1} ? $Id{$1} : "no-id-$1"/ge
                unless ref $s;
            $s;
        } ref $v eq 'ARRAY' ? @$v : ($v);
        $block->set_value($section, ref $v eq 'ARRAY' ? \@v : $v[0]);
    }
});

sub auth { return "Authorization: Bearer $_[0]" }

ZT::Redis::start();
run_tests();

__DATA__

=== TEST 1: Bob of IdP A parks a request
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt056:;
--- config
    zt_jwks_file ../html/idp-a.json issuer=https://idp-a.test;
    zt_jwks_file ../html/idp-b.json issuer=https://idp-b.test;
    zt_issuer https://idp-a.test;
    zt_issuer https://idp-b.test;
    zt_algorithms RS256 ES256;

    location = /v1/chat {
        zt_policy approve scope=inference:invoke "body~needs approval";
        zt_policy allow   scope=inference:invoke;
        add_header X-ZT-Audit $zt_audit always;
        echo FORWARDED;
    }
    location = /v1/large {
        zt_policy allow scope=models:large;
        echo LARGE;
    }
    location /zt/ {
        zt_policy allow scope=zt:review;
        zt_approval_api;
    }
--- request eval
"POST /v1/chat\n$::Body"
--- more_headers eval
main::auth($::BobA)
--- capture: a
--- error_code: 202
--- error_log eval
qr/zt: approval [0-9a-f]{32} parked for sub "\Q$::Bob\E" of "https:\/\/idp-a\.test"/



=== TEST 2: the reviewer sees the issuer with the subject
--- request
GET /zt/approvals/%%a%%
--- more_headers eval
main::auth($::RitaA)
--- error_code: 200
--- response_body_like eval
qr/"iss":"https:\/\/idp-a\.test","sub":"\Q$::Bob\E"/



=== TEST 3: Bob of IdP B retries with it: another caller, 403 mismatch
--- request eval
"POST /v1/chat\n$::Body"
--- more_headers eval
main::auth($::BobB) . "\nX-ZT-Approval: %%a%%"
--- error_code: 403
--- response_body_like chomp
"code":"approval_mismatch"



=== TEST 4: approved, Bob of IdP B still cannot use it ...
--- request eval
["POST /zt/approvals/%%a%%/approve", "POST /v1/chat\n$::Body"]
--- more_headers eval
[main::auth($::RitaA), main::auth($::BobB) . "\nX-ZT-Approval: %%a%%"]
--- error_code eval
[200, 403]
--- response_body_like eval
['"decided_by":"rita","decided_by_iss":"https://idp-a.test"|"decided_by_iss":"https://idp-a.test".*"decided_by":"rita"|"decided_by":"rita".*"decided_by_iss":"https://idp-a.test"',
 '"code":"approval_mismatch"']



=== TEST 5: ... Bob of IdP A can, once
--- request eval
["POST /v1/chat\n$::Body", "POST /v1/chat\n$::Body"]
--- more_headers eval
[main::auth($::BobA) . "\nX-ZT-Approval: %%a%%",
 main::auth($::BobA) . "\nX-ZT-Approval: %%a%%"]
--- error_code eval
[200, 403]
--- response_body_like eval
['^FORWARDED$', '"code":"approval_consumed"']



=== TEST 6: Rita of IdP B parks a request ...
--- request eval
"POST /v1/chat\n$::Body2"
--- more_headers eval
main::auth($::RitaB)
--- capture: ritab
--- error_code: 202



=== TEST 7: ... Rita of IdP B cannot approve it herself ...
--- request
POST /zt/approvals/%%ritab%%/approve
--- more_headers eval
main::auth($::RitaB)
--- error_code: 403
--- response_body_like chomp
"code":"self_approval"



=== TEST 8: ... Rita of IdP A is someone else and can
--- request
POST /zt/approvals/%%ritab%%/approve
--- more_headers eval
main::auth($::RitaA)
--- error_code: 200
--- response_body_like chomp
"status":"approved"



=== TEST 9: a token without "sub" cannot park: 403 with a clear message, audited, nothing parked
--- request eval
"POST /v1/chat\n$::Body3"
--- more_headers eval
main::auth($::NoSub)
--- error_code: 403
--- response_body_like chomp
"code":"approval_needs_identity","message":"this request needs an approval, and approvals need a token with \\"iss\\" and \\"sub\\" claims"
--- response_headers_like
X-ZT-Audit: .*"decision":"deny".*"event":"approval.refuse".*
--- response_headers
!X-ZT-Approval-Id



=== TEST 10: ... nor retry one: 403, never forwarded
--- request eval
"POST /v1/chat\n$::Body2"
--- more_headers eval
main::auth($::NoSub) . "\nX-ZT-Approval: %%ritab%%"
--- error_code: 403
--- response_body_like chomp
"code":"approval_needs_identity"



=== TEST 11: a request that needs no approval is not affected by a missing "sub"
--- request
POST /v1/chat
{"prompt":"hello"}
--- more_headers eval
main::auth($::NoSub)
--- error_code: 200
--- response_body
FORWARDED



=== TEST 12: several issuers: a grant that names no issuer is refused, 400
--- request eval
"POST /zt/grants\n{\"sub\":\"$::Bob\",\"scope\":\"models:large\",\"ttl\":\"10m\"}"
--- more_headers eval
main::auth($::RitaA)
--- error_code: 400
--- response_body_like chomp
"code":"issuer_required"



=== TEST 13: a grant for Bob of IdP A serves Bob of IdP A only
--- request eval
["POST /zt/grants\n{\"sub\":\"$::Bob\",\"iss\":\"$::A\",\"scope\":\"models:large\",\"ttl\":\"10m\"}",
 "GET /v1/large", "GET /v1/large"]
--- more_headers eval
[main::auth($::RitaA), main::auth($::BobA), main::auth($::BobB)]
--- error_code eval
[201, 200, 403]
--- response_body_like eval
['"iss":"https://idp-a.test"', '^LARGE$', '"error"']



=== TEST 14: grants are listed by issuer and subject; without ?iss=, 400
--- request eval
["GET /zt/grants?sub=$::Bob&iss=https%3A%2F%2Fidp-a.test",
 "GET /zt/grants?sub=$::Bob&iss=https://idp-b.test",
 "GET /zt/grants?sub=$::Bob",
 "GET /zt/grants?sub=$::Bob&iss="]
--- more_headers eval
[(main::auth($::RitaA)) x 4]
--- error_code eval
[200, 200, 400, 400]
--- response_body_like eval
['"scope":"models:large"', '^\{"grants":\[\]\}$', '"code":"issuer_required"',
 '"code":"issuer_required"']



=== TEST 15: revoking names the issuer: the wrong one is 404, none is 400, the right one revokes
--- request eval
["DELETE /zt/grants/$::Bob/models:large?iss=https://idp-b.test",
 "DELETE /zt/grants/$::Bob/models:large",
 "GET /v1/large",
 "DELETE /zt/grants/$::Bob/models:large?iss=https://idp-a.test",
 "GET /v1/large"]
--- more_headers eval
[main::auth($::RitaA), main::auth($::RitaA), main::auth($::BobA),
 main::auth($::RitaA), main::auth($::BobA)]
--- error_code eval
[404, 400, 200, 200, 403]
--- response_body_like eval
['"code":"grant_unknown"', '"code":"issuer_required"', '^LARGE$',
 '"iss":"https://idp-a.test","sub":"' . $::Bob . '","scope":"models:large","status":"revoked"', '"error"']



=== TEST 16: self-grant is issuer and subject: Rita of A cannot grant Rita of A, can grant Rita of B
--- request eval
["POST /zt/grants\n{\"sub\":\"rita\",\"iss\":\"$::A\",\"scope\":\"models:large\",\"ttl\":60}",
 "POST /zt/grants\n{\"sub\":\"rita\",\"iss\":\"$::B\",\"scope\":\"models:large\",\"ttl\":60}"]
--- more_headers eval
[main::auth($::RitaA), main::auth($::RitaA)]
--- error_code eval
[403, 201]
--- response_body_like eval
['"code":"self_grant"', '"iss":"https://idp-b.test"']



=== TEST 17: keys cannot be confused: (A, "x:RUN") and ("A:x", "RUN") are two grantees
--- request eval
["POST /zt/grants\n{\"sub\":\"x:$::Run\",\"iss\":\"$::A\",\"scope\":\"colon:one\",\"ttl\":60}",
 "GET /zt/grants?sub=$::Run&iss=https://idp-a.test:x",
 "GET /zt/grants?sub=x:$::Run&iss=https://idp-a.test",
 "POST /zt/grants\n{\"sub\":\"$::Run\",\"iss\":\"$::A:x\",\"scope\":\"colon:two\",\"ttl\":60}",
 "GET /zt/grants?sub=x:$::Run&iss=https://idp-a.test"]
--- more_headers eval
[(main::auth($::RitaA)) x 5]
--- error_code eval
[201, 200, 200, 201, 200]
--- response_body_like eval
['"scope":"colon:one"', '^\{"grants":\[\]\}$', '"scope":"colon:one"',
 '"scope":"colon:two"', '^\{"grants":\[\{[^{}]*"scope":"colon:one"[^{}]*\}\]\}$']



=== TEST 18: a bad issuer in a grant: 400
--- request eval
["POST /zt/grants\n{\"sub\":\"z\",\"iss\":\"\",\"scope\":\"s\",\"ttl\":60}",
 "POST /zt/grants\n{\"sub\":\"z\",\"iss\":42,\"scope\":\"s\",\"ttl\":60}",
 "POST /zt/grants\n{\"sub\":\"z\",\"iss\":\"a\\u0001b\",\"scope\":\"s\",\"ttl\":60}"]
--- more_headers eval
[(main::auth($::RitaA)) x 3]
--- error_code eval
[400, 400, 400]
--- response_body_like eval
[('"code":"invalid_grant"') x 3]



=== TEST 19: a location that accepts tokens without "iss": such a token cannot park
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt056:;
--- config
    location = /open/chat {
        zt_jwks_file ../html/idp-a.json;
        zt_policy approve scope=inference:invoke;
        echo FORWARDED;
    }
--- request eval
"POST /open/chat\n$::Body3"
--- more_headers eval
main::auth($::NoIss)
--- error_code: 403
--- response_body_like chomp
"code":"approval_needs_identity"



=== TEST 20: one issuer accepted everywhere: the API may leave the issuer out
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt056:;
    zt_jwks_file ../html/idp-a.json;
    zt_issuer https://idp-a.test;
--- config
    location = /v1/large {
        zt_policy allow scope=models:large;
        echo LARGE;
    }
    location /zt/ {
        zt_policy allow scope=zt:review;
        zt_approval_api;
    }
--- request eval
["POST /zt/grants\n{\"sub\":\"$::Bob\",\"scope\":\"models:large\",\"ttl\":60}",
 "GET /v1/large",
 "GET /zt/grants?sub=$::Bob",
 "DELETE /zt/grants/$::Bob/models:large",
 "GET /v1/large"]
--- more_headers eval
[main::auth($::RitaA), main::auth($::BobA), main::auth($::RitaA),
 main::auth($::RitaA), main::auth($::BobA)]
--- error_code eval
[201, 200, 200, 200, 403]
--- response_body_like eval
['"iss":"https://idp-a.test"', '^LARGE$', '"iss":"https://idp-a.test"',
 '"status":"revoked"', '"error"']
