# The reviewer API routes on the path nginx chose the location with
# (r->uri: percent-decoded, "." and ".." resolved, slashes merged), and a
# route starts at the API location's name.  A stricter location for part
# of the API ("location /zt/grants" for admins only) can then not be
# reached through the looser one, however the request line is written:
# "#", "?", %2F, %23, "/./", "//", "..", trailing slashes, case.
#
# Blocks run in order and share Redis (prefix zt054:): "--- capture: NAME"
# keeps the approval id of a response, "%%NAME%%" puts it in a later block,
# "%%enc:NAME%%" with every byte percent-encoded.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Redis;

no_shuffle();
repeat_each(1);

sub token {
    my ($sub, $scope) = @_;
    return ZT::Token::mint(claims => { sub => $sub, scope => $scope },
                           exp_in => 3600);
}

our $Rita  = token('rita', 'zt:review');
our $Adam  = token('adam', 'zt:review zt:admin');
our $Alice = token('alice', 'inference:invoke');

# the grant Rita must not be able to make
our $Grant = '{"sub":"mallory","scope":"models:large","ttl":"10m"}';

our %Id;

add_response_body_check(sub {
    my ($block, $body) = @_;
    my $name = $block->capture or return;
    $Id{$name} = $1 if $body =~ /"id":"([0-9a-f]{32})"/;
});

add_block_preprocessor(sub {
    my $block = shift;
    for my $section (qw(request raw_request response_body_like)) {
        my $v = $block->$section;
        next unless defined $v;
        my @v = map {
            my $s = $_;
            unless (ref $s) {
                $s =~ s/%%enc:(\w+)%%/encode_all(defined $Id{$1} ? $Id{$1} : "no-id-$1")/ge;
                $s =~ s/%%(\w+)%%/defined $Id{$1} ? $Id{$1} : "no-id-$1"/ge;
            }
            $s;
        } ref $v eq 'ARRAY' ? @$v : ($v);
        $block->set_value($section, ref $v eq 'ARRAY' ? \@v : $v[0]);
    }
});

# a request line as a client may write it, with Rita's token
sub raw {
    my ($line, $body) = @_;
    $body //= '';
    return "$line HTTP/1.1\r\nHost: localhost\r\n"
         . "Authorization: Bearer $::Rita\r\n"
         . "Content-Type: application/json\r\n"
         . "Content-Length: " . length($body) . "\r\n"
         . "Connection: close\r\n\r\n$body";
}

# the same id with its hex digits percent-encoded
sub encode_all {
    my $s = shift;
    $s =~ s/(.)/sprintf '%%%02X', ord $1/ge;
    return $s;
}

ZT::Redis::start();
run_tests();

__DATA__

=== TEST 1: the stricter location holds: Rita (zt:review) cannot grant, Adam (zt:admin) can
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt054:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /zt/ {
        zt_policy allow scope=zt:review;
        zt_approval_api;
    }
    location /zt/grants {
        zt_policy allow scope=zt:admin;
        zt_approval_api;
    }
    location = /v1/chat {
        zt_policy approve scope=inference:invoke;
        echo FORWARDED;
    }
--- request eval
["POST /zt/grants\n$::Grant",
 "POST /zt/grants\n{\"sub\":\"bob\",\"scope\":\"models:large\",\"ttl\":\"10m\"}"]
--- more_headers eval
["Authorization: Bearer $::Rita", "Authorization: Bearer $::Adam"]
--- error_code eval
[403, 201]



=== TEST 2: POST /zt/x#/grants: the path nginx routed is /zt/x, no route: 404
--- raw_request eval
main::raw("POST /zt/x#/grants", $::Grant)
--- error_code: 404
--- response_body_like chomp
"code":"not_found"



=== TEST 3: POST with the route hidden behind ?, %23, %2F, or under another segment: 404
--- request eval
["POST /zt/x?/grants\n$::Grant",
 "POST /zt/x%23/grants\n$::Grant",
 "POST /zt/x%2Fgrants\n$::Grant",
 "POST /zt/x/grants\n$::Grant",
 "POST /zt/GRANTS\n$::Grant",
 "POST /zt/x/y/grants\n$::Grant"]
--- more_headers eval
[("Authorization: Bearer $::Rita") x 6]
--- error_code eval
[404, 404, 404, 404, 404, 404]



=== TEST 4: paths that nginx normalizes to /zt/grants go to the stricter location: 403
--- request eval
["POST /zt/./grants\n$::Grant",
 "POST /zt//grants\n$::Grant",
 "POST /zt/x/../grants\n$::Grant",
 "POST /zt/x/%2E%2E/grants\n$::Grant",
 "POST /zt/%67rants\n$::Grant",
 "POST /zt%2Fgrants\n$::Grant",
 "POST /zt/grants/\n$::Grant"]
--- more_headers eval
[("Authorization: Bearer $::Rita") x 7]
--- error_code eval
[403, 403, 403, 403, 403, 403, 403]



=== TEST 5: ... and none of these made a grant
--- request
GET /zt/grants?sub=mallory
--- more_headers eval
"Authorization: Bearer $::Adam"
--- error_code: 200
--- response_body
{"grants":[]}



=== TEST 6: DELETE /zt/x#/grants/bob/models:large: 404
--- raw_request eval
main::raw("DELETE /zt/x#/grants/bob/models:large")
--- error_code: 404
--- response_body_like chomp
"code":"not_found"



=== TEST 7: DELETE through other spellings: 404, or 403 where nginx picks the stricter location
--- request eval
["DELETE /zt/x/grants/bob/models:large",
 "DELETE /zt/x%23/grants/bob/models:large",
 "DELETE /zt/x?/grants/bob/models:large",
 "DELETE /zt/x/grants?sub=bob&scope=models:large",
 "DELETE /zt/grants/bob/models:large",
 "DELETE /zt/./grants/bob/models%3Alarge",
 "DELETE /zt/grants?sub=bob&scope=models:large"]
--- more_headers eval
[("Authorization: Bearer $::Rita") x 7]
--- error_code eval
[404, 404, 404, 404, 403, 403, 403]



=== TEST 8: ... and Bob's grant is still there
--- request
GET /zt/grants?sub=bob
--- more_headers eval
"Authorization: Bearer $::Adam"
--- error_code: 200
--- response_body_like chomp
"scope":"models:large"



=== TEST 9: inside the stricter location too, a route is exact: trailing slash, extra segment, case: 404
--- request eval
["POST /zt/grants/\n{\"sub\":\"carol\",\"scope\":\"s\",\"ttl\":60}",
 "POST /zt/grants//\n{\"sub\":\"carol\",\"scope\":\"s\",\"ttl\":60}",
 "DELETE /zt/grants/bob/models:large/",
 "DELETE /zt/grants/bob",
 "DELETE /zt/grants/bob/models:large/x",
 "POST /zt/grantsx\n{\"sub\":\"carol\",\"scope\":\"s\",\"ttl\":60}",
 "GET /zt/grants?sub=carol"]
--- more_headers eval
[("Authorization: Bearer $::Adam") x 7]
--- error_code eval
[404, 404, 404, 404, 404, 404, 200]
--- response_body_like eval
[('"code":"not_found"') x 6, '^\{"grants":\[\]\}$']



=== TEST 10: a request is parked, for the approval routes
--- request
POST /v1/chat
{"prompt":"routing"}
--- more_headers eval
"Authorization: Bearer $::Alice"
--- capture: parked
--- error_code: 202



=== TEST 11: approval routes are exact too: hidden, extended, cased, slashed: 404 or 405, never a decision
--- request eval
["POST /zt/x/approvals/%%parked%%/approve",
 "POST /zt/x%23/approvals/%%parked%%/approve",
 "POST /zt/approvals/%%parked%%/approve/",
 "POST /zt/approvals/%%parked%%/approve/x",
 "POST /zt/approvals/%%parked%%/APPROVE",
 "POST /zt/Approvals/%%parked%%/approve",
 "GET /zt/approvals/%%parked%%/",
 "GET /zt/approvals/",
 "GET /zt/approvals/%%parked%%%2Fapprove"]
--- more_headers eval
[("Authorization: Bearer $::Rita") x 9]
--- error_code eval
[404, 404, 404, 404, 404, 404, 404, 404, 405]



=== TEST 12: ... so it is still pending; an id written %-encoded is the same id
--- request eval
"GET /zt/approvals/%%enc:parked%%"
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- response_body_like eval
'"id":"%%parked%%".*"status":"pending"'



=== TEST 13: a location named without its trailing slash, and an exact one
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt054:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /rv {
        zt_policy allow scope=zt:review;
        zt_approval_api;
    }
    location = /ex/approvals {
        zt_policy allow scope=zt:review;
        zt_approval_api;
    }
--- request eval
["GET /rv/approvals", "GET /rvx/approvals", "GET /rv", "GET /rv/",
 "GET /ex/approvals"]
--- more_headers eval
[("Authorization: Bearer $::Rita") x 5]
--- error_code eval
[200, 404, 404, 404, 200]



=== TEST 14: with merge_slashes off, /zt//grants is not the stricter location, and not a route: 404
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt054:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    merge_slashes off;
    location /zt/ {
        zt_policy allow scope=zt:review;
        zt_approval_api;
    }
    location /zt/grants {
        zt_policy allow scope=zt:admin;
        zt_approval_api;
    }
--- request eval
["POST /zt//grants\n$::Grant", "POST /zt/grants\n$::Grant"]
--- more_headers eval
[("Authorization: Bearer $::Rita") x 2]
--- error_code eval
[404, 403]



=== TEST 15: zt_approval_api in a regex location does not start
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt054:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location ~ ^/zt/ {
        zt_policy allow scope=zt:review;
        zt_approval_api;
    }
--- must_die
--- error_log
"zt_approval_api" directive needs a prefix or exact location, not a regex or named one
