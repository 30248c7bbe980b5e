# One reading of claim names, everywhere a claim is named: policy
# conditions (claim.NAME=, sub=), zt_scope_claim, zt_groups_claim, unless=
# of masking and $zt_claim_NAME.  A name is read every way its dots allow
# (one member name, or nested objects); readings that disagree make the
# name ambiguous, and that fails closed.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('request', "GET /t\n") unless defined $block->request;

    my $http = <<'_EOC_';
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
_EOC_
    $block->set_value('http_config', $http . ($block->http_config // ''));
});

sub bearer { "Authorization: Bearer " . ZT::Token::mint(claims => shift) }

run_tests();

__DATA__

=== TEST 1: a claim whose own name has dots (a URL) is found whole
--- config
    location = /t {
        zt_policy allow claim.https://example.com/roles=admin;
        echo ok;
    }
--- more_headers eval
main::bearer({ 'https://example.com/roles' => ['user', 'admin'] })
--- error_code: 200
--- response_body
ok



=== TEST 2: a URL claim holds only for a value it has
--- config
    location = /t {
        zt_policy allow claim.https://example.com/roles=admin;
        echo ok;
    }
--- more_headers eval
main::bearer({ 'https://example.com/roles' => ['user'], admin => 'admin' })
--- error_code: 403
--- response_body_unlike
ok



=== TEST 3: a dotted name walks nested objects
--- config
    location = /t {
        zt_policy allow claim.org.team.name=ml;
        echo ok;
    }
--- more_headers eval
main::bearer({ org => { team => { name => 'ml' } } })
--- error_code: 200
--- response_body
ok



=== TEST 4: a member with dots inside a nested object ({"a.b":{"c":1}} is a.b.c)
--- config
    location = /t {
        zt_policy allow claim.a.b.c=1;
        echo ok;
    }
--- more_headers eval
main::bearer({ 'a.b' => { c => 1 } })
--- error_code: 200
--- response_body
ok



=== TEST 5: a nested member with dots in its name ({"a":{"b.c":"x"}} is a.b.c)
--- config
    location = /t {
        zt_policy allow claim.a.b.c=x;
        echo ok;
    }
--- more_headers eval
main::bearer({ a => { 'b.c' => 'x' } })
--- error_code: 200
--- response_body
ok



=== TEST 6: two readings with different values: an allow rule does not hold
--- config
    location = /t {
        zt_policy allow claim.org.tier=paid;
        echo ok;
    }
--- more_headers eval
main::bearer({ 'org.tier' => 'paid', org => { tier => 'free' } })
--- error_code: 403
--- response_body_unlike
ok
--- error_log
zt: claim "org.tier" is ambiguous
condition "claim.org.tier=paid" of the zt_policy rule at line



=== TEST 7: two readings with different values: a deny rule cannot be slipped past
--- config
    location = /t {
        zt_policy deny claim.org.tier=free;
        zt_policy allow scope=inference:invoke;
        echo ok;
    }
--- more_headers eval
main::bearer({ 'org.tier' => 'paid', org => { tier => 'free' } })
--- error_code: 403
--- response_body_unlike
ok
--- error_log
zt: claim "org.tier" is ambiguous



=== TEST 8: the same deny rule lets a token with one reading through
--- config
    location = /t {
        zt_policy deny claim.org.tier=free;
        zt_policy allow scope=inference:invoke;
        echo ok;
    }
--- more_headers eval
main::bearer({ org => { tier => 'paid' } })
--- error_code: 200
--- response_body
ok
--- no_error_log
ambiguous



=== TEST 9: two readings that find the same value are not ambiguous
--- config
    location = /t {
        zt_policy allow claim.org.tier=paid;
        echo ok;
    }
--- more_headers eval
main::bearer({ 'org.tier' => 'paid', org => { tier => 'paid' } })
--- error_code: 200
--- response_body
ok
--- no_error_log
ambiguous



=== TEST 10: the number 3 and the string "3" are different values: ambiguous
--- config
    location = /t {
        zt_policy allow claim.org.tier=3;
        echo ok;
    }
--- more_headers eval
main::bearer({ 'org.tier' => 3, org => { tier => '3' } })
--- error_code: 403
--- error_log
zt: claim "org.tier" is ambiguous



=== TEST 11: arrays that differ are ambiguous, even when both hold the value
--- config
    location = /t {
        zt_policy allow claim.realm.roles=admin;
        echo ok;
    }
--- more_headers eval
main::bearer({ 'realm.roles' => ['admin'], realm => { roles => ['admin', 'user'] } })
--- error_code: 403
--- error_log
zt: claim "realm.roles" is ambiguous



=== TEST 12: a null under one reading and a value under another is ambiguous
--- config
    location = /t {
        zt_policy allow claim.a.b=admin;
        echo ok;
    }
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(payload => JSON::PP->new->encode(
    { %{ ZT::Token::claims() }, 'a.b' => undef, a => { b => 'admin' } }))
--- error_code: 403
--- error_log
zt: claim "a.b" is ambiguous



=== TEST 13: an array is not walked into: roles.0 finds nothing in ["admin"]
--- config
    location = /t {
        zt_policy allow claim.roles.0=admin;
        echo ok;
    }
--- more_headers eval
main::bearer({ roles => ['admin'] })
--- error_code: 403



=== TEST 14: nested numbers and booleans compare by their JSON text and value
--- config
    location = /t {
        zt_policy allow claim.acct.level=3.0 claim.acct.mfa=true claim.acct.n=-1;
        echo ok;
    }
--- more_headers eval
main::bearer({ acct => { level => 3, mfa => JSON::PP::true(), n => -1 } })
--- error_code: 200
--- response_body
ok



=== TEST 15: a boolean false does not equal "true"
--- config
    location = /t {
        zt_policy allow claim.acct.mfa=true;
        echo ok;
    }
--- more_headers eval
main::bearer({ acct => { mfa => JSON::PP::false() } })
--- error_code: 403



=== TEST 16: a name with an empty part is refused by nginx -t (zt_scope_claim)
--- http_config
    zt_scope_claim realm..roles;
--- config
    location = /t { zt_policy allow scope=a; echo ok; }
--- must_die
--- error_log
"zt_scope_claim": invalid claim name "realm..roles"



=== TEST 17: a name ending in a dot is refused by nginx -t (zt_groups_claim)
--- http_config
    zt_groups_claim roles.;
--- config
    location = /t { zt_policy allow group=a; echo ok; }
--- must_die
--- error_log
"zt_groups_claim": invalid claim name "roles."



=== TEST 18: a name starting with a dot is refused by nginx -t (claim.NAME=)
--- config
    location = /t { zt_policy allow claim..roles=a; echo ok; }
--- must_die
--- error_log
invalid claim name in "claim..roles=a"



=== TEST 19: zt_scope_claim with dots in a member's name (a URL)
--- config
    location = /t {
        zt_scope_claim https://example.com/scopes;
        zt_policy allow scope=models:large;
        echo ok;
    }
--- more_headers eval
main::bearer({ scope => undef, 'https://example.com/scopes' => 'a models:large' })
--- error_code: 200
--- response_body
ok



=== TEST 20: zt_scope_claim that two readings disagree on: the token is refused
--- config
    location = /t {
        zt_scope_claim realm.scopes;
        zt_policy allow scope=models:large;
        echo ok;
    }
--- more_headers eval
main::bearer({ 'realm.scopes' => 'models:large', realm => { scopes => 'models:small' } })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="ambiguous scope claim"
--- error_log
zt: claim "realm.scopes" is ambiguous



=== TEST 21: zt_groups_claim that two readings disagree on: refused, so a deny group= cannot be dodged
--- config
    location = /t {
        zt_groups_claim org.groups;
        zt_policy deny group=contractors;
        zt_policy allow scope=inference:invoke;
        echo ok;
    }
--- more_headers eval
main::bearer({ 'org.groups' => ['staff'], org => { groups => ['contractors'] } })
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="ambiguous groups claim"



=== TEST 22: zt_groups_claim walks nested objects and reads an array
--- config
    location = /t {
        zt_groups_claim org.groups;
        zt_policy allow group=ml;
        echo ok;
    }
--- more_headers eval
main::bearer({ org => { groups => ['staff', 'ml'] } })
--- error_code: 200
--- response_body
ok



=== TEST 23: sub= reads the sub claim, not a nested one
--- config
    location = /t {
        zt_policy allow sub=admin;
        echo ok;
    }
--- more_headers eval
main::bearer({ sub => 'alice', s => { ub => 'admin' } })
--- error_code: 403



=== TEST 24: $zt_claim_NAME: a string as is, a number and an object as JSON, absent is empty
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        echo "tenant=[$zt_claim_tenant] tier=[$zt_claim_tier] org=[$zt_claim_org] none=[$zt_claim_none]";
    }
--- more_headers eval
main::bearer({ tenant => 'acme', tier => 3, org => { id => 7 } })
--- error_code: 200
--- response_body
tenant=[acme] tier=[3] org=[{"id":7}] none=[]



=== TEST 25: $zt_claim_NAME reads through the same resolver as the policy
--- config
    location = /t {
        zt_policy allow claim.tenant=acme;
        echo "tenant=[$zt_claim_tenant] flag=[$zt_claim_mfa]";
    }
--- more_headers eval
main::bearer({ tenant => 'acme', mfa => JSON::PP::false() })
--- error_code: 200
--- response_body
tenant=[acme] flag=[false]



=== TEST 26: unless= of masking with an ambiguous claim keeps the mask on
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        default_type application/json;
        zt_mask $.ssn unless=claim.org.role=auditor;
        echo -n '{"ssn":"078-05-1120"}';
    }
--- more_headers eval
main::bearer({ 'org.role' => 'auditor', org => { role => 'user' } })
--- error_code: 200
--- response_body chomp
{"ssn":"[REDACTED]"}
--- error_log
zt: claim "org.role" is ambiguous
cannot be evaluated, the rule applies



=== TEST 27: unless= of masking with a nested claim that holds lifts the mask
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        default_type application/json;
        zt_mask $.ssn unless=claim.org.role=auditor;
        echo -n '{"ssn":"078-05-1120"}';
    }
--- more_headers eval
main::bearer({ org => { role => 'auditor' } })
--- error_code: 200
--- response_body chomp
{"ssn":"078-05-1120"}



=== TEST 28: claim.NAME= after a token cache hit reads the same way
--- http_config
    zt_token_cache zone=zt_claims:1m;
--- config
    location = /t {
        zt_policy allow claim.a.b.c=1;
        echo "$zt_token_cache";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
my $h = main::bearer({ 'a.b' => { c => 1 } });
[$h, $h]
--- error_code eval
[200, 200]
--- response_body eval
["MISS\n", "HIT\n"]
