# Remote key sets: zt_jwks_request fetches a JWKS through an internal
# location (an nginx subrequest), keeps it in shared memory with a version,
# and follows the identity provider's rotations without a reload.
#
# The identity provider is this nginx: /idp/jwks.json is a file that the
# tests rewrite with PUT /admin/jwks.json (dav), /idp-log shows every fetch
# the provider saw, /admin/slow makes it answer after 4 s.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

log_level('info');
no_shuffle();

# log checks see every line since nginx started; what later requests of a
# block bring to the log is read through /errlog
check_accum_error_log();

our $IdP = <<'_EOC_';
    location = /_zt_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/jwks.json;
    }
    location /idp/ {
        root html;
        access_log logs/idp.log idp;
        if (-f $document_root/idp/slow) {
            rewrite ^ /slow-jwks last;
        }
    }
    location = /slow-jwks {
        access_log logs/idp.log idp;
        echo_sleep 4;
        echo_location /idp-file/jwks.json;
    }
    location /idp-file/ { alias html/idp/; }
    location /admin/ {
        alias html/idp/;
        dav_methods PUT DELETE;
        access_log off;
    }
    location = /idp-log { default_type text/plain; alias logs/idp.log; }
    location = /errlog { default_type text/plain; alias logs/error.log; }
    location = /sleep1 { echo_sleep 1.1; echo slept; }
    location = /sleep2 { echo_sleep 2.1; echo slept; }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $block->config . $IdP) if defined $block->config;

    my $http = <<'_EOC_';
    log_format idp '$request_method $uri auth=[$http_authorization] cookie=[$http_cookie] length=[$http_content_length]';
_EOC_
    $block->set_value('http_config', $http . ($block->http_config // ''));

    $block->set_value('user_files', ">>> idp/jwks.json\n" . ZT::Token::jwks('rsa1') . "\n")
        unless defined $block->user_files;

    $block->set_value('request', "GET /t\n") unless defined $block->request;
});

sub bearer { "Authorization: Bearer " . ZT::Token::mint(@_) }

# what /idp-log shows after n fetches of the JWKS
sub fetches {
    my $n = shift;
    return qr/\A(?:GET \/idp\/jwks\.json [^\n]*\n){$n}\z/;
}

# what /errlog shows when each worker built the keys of version v once
sub built {
    my $v = shift;
    my $other = '(?:(?!this process uses version)[\s\S])*';
    return "\\A$other(?:this process uses version $v [^\n]*\n$other){1,"
           . workers() . "}\\z";
}

run_tests();

__DATA__

=== TEST 1: first use: the gateway fetches the key set, then the token passes
--- config
    location = /t {
        zt_jwks_request /_zt_jwks;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(key => 'rsa1'), ""]
--- error_code eval
[200, 200]
--- response_body_like eval
["^ok alice\$", main::fetches(1)]
--- error_log
zt: fetching the key set of "/_zt_jwks" (first use)
zt: key set of "/_zt_jwks" fetched: version 1, 1 key(s)



=== TEST 2: later tokens are checked with the set in shared memory: no new fetch, the keys are built once
--- config
    location = /t {
        zt_jwks_request /_zt_jwks;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /idp-log", "GET /errlog"]
--- more_headers eval
[main::bearer(key => 'rsa1'), main::bearer(key => 'rsa1', claims => { sub => 'bob' }),
 main::bearer(key => 'rsa1', claims => { sub => 'carol' }), "", ""]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body_like eval
["^ok alice\$", "^ok bob\$", "^ok carol\$", main::fetches(1), main::built(1)]



=== TEST 3: rotation without reload: a token with the new kid passes at its first request
--- config
    location = /t {
        zt_jwks_request /_zt_jwks min_refetch=0s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "PUT /admin/jwks.json\n" . ZT::Token::jwks('rsa2'), "GET /t", "GET /idp-log", "GET /errlog"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", main::bearer(key => 'rsa2'), "", ""]
--- error_code eval
[200, 204, 200, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\$", "^ok alice\$", main::fetches(2),
 'zt: fetching the key set of "/_zt_jwks" \(unknown key\).*zt: key set of "/_zt_jwks" fetched: version 2, 1 key\(s\)']



=== TEST 4: rotation: the key the provider dropped no longer verifies
--- config
    location = /t {
        zt_jwks_request /_zt_jwks min_refetch=0s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "PUT /admin/jwks.json\n" . ZT::Token::jwks('rsa2'), "GET /t", "GET /t"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", main::bearer(key => 'rsa2'), main::bearer(key => 'rsa1')]
--- error_code eval
[200, 204, 200, 401]
--- response_body_like eval
["^ok alice\$", "^\$", "^ok alice\$", '"message":"unknown kid"']



=== TEST 5: within min_refetch an unknown kid is refused without a fetch; after it, one fetch finds the new key
--- config
    location = /t {
        zt_jwks_request /_zt_jwks min_refetch=2s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "PUT /admin/jwks.json\n" . ZT::Token::jwks('rsa1', 'rsa2'), "GET /t", "GET /idp-log",
 "GET /sleep2", "GET /t", "GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", main::bearer(key => 'rsa2'), "",
 "", main::bearer(key => 'rsa2'), main::bearer(key => 'rsa1'), ""]
--- error_code eval
[200, 204, 401, 200, 200, 200, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\$", '"message":"unknown kid"', main::fetches(1),
 "^slept\$", "^ok alice\$", "^ok alice\$", main::fetches(2)]
--- timeout: 10



=== TEST 6: an unknown-kid storm makes one fetch per min_refetch
--- config
    location = /t {
        zt_jwks_request /_zt_jwks min_refetch=2s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "GET /sleep2",
 "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /idp-log",
 "GET /sleep2", "GET /t", "GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "",
 (map { main::bearer(key => 'rsa1', kid => "storm-$_") } 1 .. 6), "",
 "", main::bearer(key => 'rsa1', kid => 'storm-7'), main::bearer(key => 'rsa1', kid => 'storm-8'), ""]
--- error_code eval
[200, 200, (401) x 6, 200, 200, 401, 401, 200]
--- response_body_like eval
["^ok alice\$", "^slept\$", ('"message":"unknown kid"') x 6, main::fetches(2),
 "^slept\$", '"message":"unknown kid"', '"message":"unknown kid"', main::fetches(3)]
--- timeout: 10



=== TEST 7: the provider is down and no set was ever fetched: 503 with Retry-After, and one attempt only
--- config
    location = /_zt_down {
        internal;
        proxy_pass http://unix:/nonexistent/zt-idp.sock:/jwks;
    }
    location = /t {
        zt_jwks_request /_zt_down;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer(key => 'rsa1'), main::bearer(key => 'rsa1')]
--- error_code eval
[503, 503]
--- response_headers_like eval
["Retry-After: (30|29)", "Retry-After: (30|29|28)"]
--- response_body_like eval
['"code":"keys_unavailable"', '"code":"keys_unavailable"']
--- grep_error_log eval
qr/zt: fetching the key set of "\/_zt_down" \(first use\)/
--- grep_error_log_out
zt: fetching the key set of "/_zt_down" (first use)
--- error_log eval
[qr/\[error\] .*zt: fetching the key set of "\/_zt_down" failed: nginx ended it with 502; no key set yet: token checks that need it answer 503/,
 qr/\[error\] .*zt: no key set of "\/_zt_down" was ever fetched: token checks answer 503/]



=== TEST 8: no token, or a malformed one, never makes the gateway fetch
--- config
    location = /t {
        zt_jwks_request /_zt_jwks;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "GET /t", "GET /idp-log"]
--- more_headers eval
["", "Authorization: Bearer abc.def", ""]
--- error_code eval
[401, 401, 200]
--- response_body_like eval
["", "", "^\\z"]



=== TEST 9: stale if error: the provider goes away, the last good set keeps serving, with a warning
--- config
    location = /t {
        zt_jwks_request /_zt_jwks refresh=1s min_refetch=0s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "DELETE /admin/jwks.json", "GET /sleep1", "GET /t", "GET /t", "GET /t", "GET /errlog"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", "", main::bearer(key => 'rsa1'), main::bearer(key => 'rsa1'),
 main::bearer(key => 'rsa1', kid => 'other'), ""]
--- error_code eval
[200, 204, 200, 200, 200, 401, 200]
--- response_body_like eval
["^ok alice\$", "^\$", "^slept\$", "^ok alice\$", "^ok alice\$", '"message":"unknown kid"',
 'zt: fetching the key set of "/_zt_jwks" \(refresh\).*\[warn\] [^\n]*zt: fetching the key set of "/_zt_jwks" failed: it answered 404; the last good set stays in use \(version 1, fetched \d+ s ago\)']
--- no_error_log
answer 503



=== TEST 10: garbage (not JSON) is not taken: the last good set stays
--- config
    location = /t {
        zt_jwks_request /_zt_jwks min_refetch=0s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "PUT /admin/jwks.json\n<html>maintenance</html>", "GET /t", "GET /t", "GET /errlog"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", main::bearer(key => 'rsa1', kid => 'new'), main::bearer(key => 'rsa1'), ""]
--- error_code eval
[200, 204, 401, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\$", '"message":"unknown kid"', "^ok alice\$",
 '\[warn\] [^\n]*zt: fetching the key set of "/_zt_jwks" failed: the answer is not a JWKS with a usable key; the last good set stays in use \(version 1']



=== TEST 11: garbage (JSON that is no JWKS) is not taken
--- config
    location = /t {
        zt_jwks_request /_zt_jwks min_refetch=0s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "PUT /admin/jwks.json\n{\"keys\":\"none\"}", "GET /t", "GET /t", "GET /errlog"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", main::bearer(key => 'rsa1', kid => 'new'), main::bearer(key => 'rsa1'), ""]
--- error_code eval
[200, 204, 401, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\$", '"message":"unknown kid"', "^ok alice\$",
 'the answer is not a JWKS with a usable key; the last good set stays in use']



=== TEST 12: a JWKS whose keys are all unusable is not taken, and says why
--- config
    location = /t {
        zt_jwks_request /_zt_jwks min_refetch=0s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "PUT /admin/jwks.json\n" . ZT::Token::jwks(['rsa2', 'rsa2', use => 'enc']), "GET /t", "GET /t", "GET /errlog"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", main::bearer(key => 'rsa2'), main::bearer(key => 'rsa1'), ""]
--- error_code eval
[200, 204, 401, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\$", '"message":"unknown kid"', "^ok alice\$",
 '\[warn\] [^\n]*zt_jwks_request "/_zt_jwks": key #1 \(kid "rsa2"\) skipped: "use" is not "sig".*the answer is not a JWKS with a usable key; the last good set stays in use']



=== TEST 13: a key set never taken (garbage from the start) keeps token checks at 503
--- user_files
>>> idp/jwks.json
{"not":"a jwks"}
--- config
    location = /t {
        zt_jwks_request /_zt_jwks;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- more_headers eval
main::bearer(key => 'rsa1')
--- error_code: 503
--- response_headers_like
Retry-After: \d+
--- error_log
failed: the answer is not a JWKS with a usable key; no key set yet



=== TEST 14: a document over 128 KiB fails the fetch, not the client's request
--- config
    location = /t {
        zt_jwks_request /_zt_jwks;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- user_files eval
my $jwks = ZT::Token::jwks('rsa1');
$jwks =~ s/^\{/{"padding":"@{['x' x (130 * 1024)]}",/;
">>> idp/jwks.json\n$jwks\n"
--- more_headers eval
main::bearer(key => 'rsa1')
--- error_code: 503
--- response_body_like chomp
"code":"keys_unavailable"
--- error_log
failed: the document is larger than 128k; no key set yet



=== TEST 15: refresh= fetches in the background: the request is served with the keys at hand, the dropped key stops working after
--- config
    location = /t {
        zt_jwks_request /_zt_jwks refresh=1s min_refetch=1s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "PUT /admin/jwks.json\n" . ZT::Token::jwks('rsa2'), "GET /sleep1", "GET /t", "GET /t", "GET /t",
 "GET /idp-log", "GET /errlog"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", "", main::bearer(key => 'rsa1'), main::bearer(key => 'rsa1'),
 main::bearer(key => 'rsa2'), "", ""]
--- error_code eval
[200, 204, 200, 200, 401, 200, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\$", "^slept\$", "^ok alice\$", '"message":"unknown kid"', "^ok alice\$", main::fetches(2),
 'zt: fetching the key set of "/_zt_jwks" \(refresh\)']
--- timeout: 10



=== TEST 16: no request waits on a routine refresh: the answer comes while a slow fetch runs
--- config
    location = /t {
        zt_jwks_request /_zt_jwks refresh=1s min_refetch=1s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["GET /t", "PUT /admin/slow\n1", "GET /sleep1", "GET /t"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", "", main::bearer(key => 'rsa1') . "\nConnection: keep-alive"]
--- error_code eval
[200, 201, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\$", "^slept\$", "^ok alice\$"]
--- timeout: 2
--- abort



=== TEST 17: the token cache is bound to the key set's version: a cached token of a dropped key is refused once the set changed
--- http_config
    zt_token_cache zone=zt_remote:1m;
--- config
    location = /t {
        zt_jwks_request /_zt_jwks refresh=1s min_refetch=1s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_token_cache";
    }
--- request eval
["GET /t", "GET /t", "PUT /admin/jwks.json\n" . ZT::Token::jwks('rsa2'), "GET /sleep1", "GET /t",
 "GET /sleep1", "GET /t"]
--- more_headers eval
my $old = main::bearer(key => 'rsa1');
[$old, $old, "", "", $old, "", $old]
--- error_code eval
[200, 200, 204, 200, 200, 200, 401]
--- response_body_like eval
["^ok MISS\$", "^ok HIT\$", "^\$", "^slept\$", "^ok HIT\$", "^slept\$", '"message":"unknown kid"']
--- timeout: 10



=== TEST 18: the fetch carries nothing of the client's request: no Authorization, no cookie, no body
--- config
    location = /t {
        zt_jwks_request /_zt_jwks;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- request eval
["POST /t\n{\"prompt\":\"secret prompt\"}", "GET /idp-log"]
--- more_headers eval
[main::bearer(key => 'rsa1') . "\nCookie: session=s3cr3t\nContent-Type: application/json", ""]
--- error_code eval
[200, 200]
--- response_body_like eval
["^ok alice\$", "\\AGET /idp/jwks.json auth=\\[-\\] cookie=\\[-\\] length=\\[-\\]\n\\z"]



=== TEST 19: files and a remote set together: a key of the files needs no fetch
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_jwks_request /_zt_jwks;
        zt_algorithms RS256 ES256;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
--- user_files eval
">>> idp/jwks.json\n" . ZT::Token::jwks('rsa2') . "\n"
--- request eval
["GET /t", "GET /idp-log", "GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(key => 'ec1'), "", main::bearer(key => 'rsa2'), ""]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\\z", "^ok alice\$", main::fetches(1)]



=== TEST 20: issuer= on a remote set: its keys verify only that issuer's tokens, and another issuer's token makes no fetch
--- config
    location = /t {
        zt_jwks_request /_zt_jwks issuer=https://idp-a.test;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_claim_iss";
    }
--- request eval
["GET /t", "GET /idp-log", "GET /t", "GET /t", "GET /idp-log"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "",
 main::bearer(key => 'rsa1', claims => { iss => 'https://idp-a.test' }),
 main::bearer(key => 'rsa1'), ""]
--- error_code eval
[401, 200, 200, 401, 200]
--- response_body_like eval
['"message":"kid is bound to another issuer"|"message":"unknown kid"', "^\\z",
 "^ok https://idp-a.test\$", '"message":"kid is bound to another issuer"', main::fetches(1)]



=== TEST 21: the issue's attack with a remote IdP set bound to its issuer and a partner's oct file
--- config
    location = /t {
        zt_jwks_request /_zt_jwks issuer=https://idp-a.test;
        zt_jwks_file ../html/partner.json issuer=https://partner.test;
        zt_issuer https://idp-a.test;
        zt_issuer https://partner.test;
        zt_algorithms RS256 HS256;
        zt_policy allow sub=admin;
        echo "ok $zt_sub";
    }
--- user_files eval
">>> idp/jwks.json\n" . ZT::Token::jwks('rsa1') . "\n"
. ">>> partner.json\n" . ZT::Token::jwks([{ secret => 'partner-secret-0123456789-abcdefghij' }, 'p1']) . "\n"
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer " . ZT::Token::mint(secret => 'partner-secret-0123456789-abcdefghij',
    alg => 'HS256', kid => 'p1', claims => { iss => 'https://idp-a.test', sub => 'admin' }),
 main::bearer(key => 'rsa1', claims => { iss => 'https://idp-a.test', sub => 'admin' })]
--- error_code eval
[401, 200]
--- response_body_like eval
['"message":"kid is bound to another issuer"', "^ok admin\$"]
--- no_error_log
bound to no issuer



=== TEST 22: unbound remote sets with several issuers: nginx -t warns
--- config
    location = /t {
        zt_jwks_request /_zt_jwks;
        zt_issuer https://idp-a.test;
        zt_issuer https://partner.test;
        zt_policy allow scope=inference:invoke;
        echo ok;
    }
--- request
GET /idp-log
--- error_code: 200
--- error_log eval
qr/\[warn\] .*zt: 0 key\(s\) and 1 remote key set\(s\) bound to no issuer/



=== TEST 23: zt_jwks_request needs a location URI
--- config
    location = /t { zt_jwks_request _zt_jwks; zt_policy allow scope=a; echo ok; }
--- must_die
--- error_log
zt_jwks_request: "_zt_jwks" is not a location URI ("/...")



=== TEST 24: zt_jwks_request refuses an unknown parameter and a refresh shorter than min_refetch
--- config
    location = /t { zt_jwks_request /_zt_jwks refresh=10s min_refetch=1m; zt_policy allow scope=a; echo ok; }
--- must_die
--- error_log
zt_jwks_request: min_refetch is longer than refresh



=== TEST 25: zt_jwks_request refuses refresh=0
--- config
    location = /t { zt_jwks_request /_zt_jwks refresh=0; zt_policy allow scope=a; echo ok; }
--- must_die
--- error_log
zt_jwks_request: invalid parameter "refresh=0"



=== TEST 26: the same zt_jwks_request twice with different timings is refused
--- config
    location = /t { zt_jwks_request /_zt_jwks refresh=5m; zt_policy allow scope=a; echo ok; }
    location = /u { zt_jwks_request /_zt_jwks refresh=6m; zt_policy allow scope=a; echo ok; }
--- must_die
--- error_log
"zt_jwks_request /_zt_jwks" is given twice with different refresh= or min_refetch=



=== TEST 27: zt_policy rules with only a remote set need no key file
--- config
    location = /t {
        zt_jwks_request /_zt_jwks;
        zt_policy allow scope=inference:invoke;
        echo "ok";
    }
--- request
GET /t
--- error_code: 401
--- no_error_log
rules need a key



=== TEST 28: masking rules of the server never touch the key set a fetch brings
--- config eval
"    zt_mask \$..n;\n    zt_mask \$..kid with=hidden;\n"
. "    location = /_zt_inline {\n        internal;\n        default_type application/json;\n"
. "        return 200 '" . ZT::Token::jwks('rsa1') . "';\n    }\n"
. <<'_EOC_'
    location = /plain {
        default_type application/json;
        return 200 '{"n":"secret","kid":"k"}';
    }
    location = /t {
        zt_jwks_request /_zt_inline;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
_EOC_
--- request eval
["GET /t", "GET /plain"]
--- more_headers eval
[main::bearer(key => 'rsa1'), ""]
--- error_code eval
[200, 200]
--- response_body eval
["ok alice\n", '{"n":"[REDACTED]","kid":"hidden"}']
