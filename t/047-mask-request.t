# zt_mask_request, zt_mask_request_pattern: the prompt reaches the model
# masked, with a Content-Length that fits; the rules judge the body as sent;
# a body that is not JSON is refused; "restore" puts the values back in the
# answer (JSON or streamed) for this caller only.  The upstream /echo sends
# back what it got, as text, so the tests see what the model would read.

use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use JSON::PP ();
use Digest::SHA ();

our $Token = ZT::Token::mint(claims => { scope => 'inference:invoke', groups => ['staff'] });
our $Support = ZT::Token::mint(claims => { scope => 'inference:invoke', groups => ['support'] });
our $Chat = '{"model":"m","messages":[{"role":"system","content":"be brief"},'
          . '{"role":"user","content":"Mail bob@example.com, card 4111 1111 1111 1111."}]}';

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'CONF') unless defined $block->http_config;
    log_format zt_audit escape=none '$zt_audit';
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
CONF

    if (!defined $block->more_headers && !defined $block->raw_request) {
        $block->set_value('more_headers', "Authorization: Bearer $Token\nContent-Type: application/json");
    }
});

# the audit line written by the first request, read by the second
add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;
    my $expect = $block->audit or return;
    return unless $req_idx == 1;
    my ($line) = grep { length } split /\n/, $body;
    my $j = eval { JSON::PP->new->decode($line // '') } || {};
    my $want = eval $expect;
    die $@ if $@;
    for my $k (sort keys %$want) {
        if (ref $want->{$k} eq 'CODE') {
            ok($want->{$k}->($j->{$k}, $j), $block->name . " - audit $k") or diag($line);
        } else {
            is_deeply($j->{$k}, $want->{$k}, $block->name . " - audit $k") or diag($line);
        }
    }
    unlike($line // '', qr/bob\@example|4111 1111/, $block->name . " - no original in the audit line");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the path form masks each message's content; the rest reaches the model byte for byte, with its new length
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request $.messages[*].content;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo {
        default_type text/plain;
        echo_read_request_body;
        echo "length=$http_content_length";
        echo_request_body;
    }
--- request eval
"POST /t\n$main::Chat"
--- response_body eval
my $b = '{"model":"m","messages":[{"role":"system","content":"[REDACTED]"},{"role":"user","content":"[REDACTED]"}]}';
"length=" . length($b) . "\n$b"
--- no_error_log
[error]



=== TEST 2: detectors mask inside every string; keys and the rest stay as sent
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern email;
        zt_mask_request_pattern credit_card with=CARD;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo {
        default_type text/plain;
        echo_read_request_body;
        echo "length=$http_content_length";
        echo_request_body;
    }
--- request eval
"POST /t\n$main::Chat"
--- response_body eval
my $b = $main::Chat =~ s/bob\@example\.com/[REDACTED]/r =~ s/4111 1111 1111 1111/CARD/r;
"length=" . length($b) . "\n$b"



=== TEST 3: escapes in the body are read as the model reads them: a card written with \u escapes is masked
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern credit_card;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo_request_body; }
--- request
POST /t
{"prompt":"card \u0034111\u00201111 1111 1111 \"ok\""}
--- response_body chomp
{"prompt":"card [REDACTED] \"ok\""}



=== TEST 4: a body that is not JSON is refused with 415 where request masking is on
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern email;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo_request_body; }
--- request eval
["POST /t\nplease mail bob\@example.com", "POST /t\nto=bob%40example.com", "POST /t\n{\"to\":\"bob\@example.com\""]
--- more_headers eval
["Authorization: Bearer $main::Token\nContent-Type: text/plain",
 "Authorization: Bearer $main::Token\nContent-Type: application/x-www-form-urlencoded",
 "Authorization: Bearer $main::Token\nContent-Type: application/json"]
--- error_code eval
[415, 415, 400]
--- response_body_like eval
["unsupported_media_type", "unsupported_media_type", "invalid_json"]
--- response_body_unlike: bob



=== TEST 5: a compressed body cannot be masked: 415
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern email;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo_request_body; }
--- request
POST /t
{"to":"bob@example.com"}
--- more_headers eval
"Authorization: Bearer $main::Token\nContent-Type: application/json\nContent-Encoding: gzip"
--- error_code: 415



=== TEST 6: body rules judge the body as sent: a deny on the secret still denies
--- config
    location = /t {
        zt_policy deny body~4111;
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern credit_card;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo_request_body; }
--- request eval
["POST /t\n{\"p\":\"card 4111 1111 1111 1111\"}", "POST /t\n{\"p\":\"card 5555 5555 5555 4444\"}"]
--- error_code eval
[403, 200]
--- response_body_like eval
["insufficient_scope", '^\{"p":"card \[REDACTED\]"\}$']



=== TEST 7: and a json: rule reads the original values too
--- config
    location = /t {
        zt_policy allow scope=inference:invoke "json:$.user~^bob@";
        zt_mask_request $.user;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo_request_body; }
--- request eval
["POST /t\n{\"user\":\"bob\@example.com\"}", "POST /t\n{\"user\":\"eve\@example.com\"}"]
--- error_code eval
[200, 403]
--- response_body_like eval
['^\{"user":"\[REDACTED\]"\}$', "insufficient_scope"]



=== TEST 8: the audit counts the masked values and shows only the masked body, hashed as forwarded
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_audit_body on;
        zt_mask_request_pattern email;
        zt_mask_request_pattern credit_card;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo_request_body; }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["POST /t\n$main::Chat", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::Token\nContent-Type: application/json", ""]
--- response_body_like eval
['\[REDACTED\]', '.*']
--- audit
my $b = $main::Chat =~ s/bob\@example\.com/[REDACTED]/r =~ s/4111 1111 1111 1111/[REDACTED]/r;
{ masked_request => 2, masked => 0, body => $b, body_sha256 => Digest::SHA::sha256_hex($b) }



=== TEST 9: a denied request's audit line does not hold the original either
--- config
    location = /t {
        zt_policy allow scope=admin;
        zt_audit_body on;
        zt_mask_request_pattern email;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo_request_body; }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["POST /t\n{\"to\":\"bob\@example.com\"}", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::Token\nContent-Type: application/json", ""]
--- error_code eval
[403, 200]
--- audit
{ decision => 'deny', masked_request => 1, body => '{"to":"[REDACTED]"}' }



=== TEST 10: restore: placeholders unique to the request go to the model, the answer gets the values back
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern email restore;
        zt_mask_request_pattern credit_card restore;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model;
    }
    location = /model {
        default_type application/json;
        echo_read_request_body;
        add_header X-Model-Saw $request_body;
        echo -n '{"choices":[{"message":{"content":"Sent to [EMAIL_1]; charged [CREDIT_CARD_1]; [EMAIL_1] again; [EMAIL_9] unknown."}}]}';
    }
--- request
POST /t
{"messages":[{"role":"user","content":"Mail bob@example.com and charge 4111 1111 1111 1111; cc bob@example.com."}]}
--- response_headers
X-Model-Saw: {"messages":[{"role":"user","content":"Mail [EMAIL_1] and charge [CREDIT_CARD_1]; cc [EMAIL_1]."}]}
--- response_body chomp
{"choices":[{"message":{"content":"Sent to bob@example.com; charged 4111 1111 1111 1111; bob@example.com again; [EMAIL_9] unknown."}}]}



=== TEST 11: a placeholder is unique to the request: numbers the body already shows are skipped
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern email restore;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model;
    }
    location = /model {
        default_type application/json;
        echo_read_request_body;
        add_header X-Model-Saw $request_body;
        echo -n '["[EMAIL_1]","[EMAIL_2]","[EMAIL_3]","[EMAIL_4]"]';
    }
--- request
POST /t
{"p":"the template says [EMAIL_1] and EMAIL_3; mail ann@example.org or joe@example.org"}
--- response_headers
X-Model-Saw: {"p":"the template says [EMAIL_1] and EMAIL_3; mail [EMAIL_2] or [EMAIL_4]"}
--- response_body chomp
["[EMAIL_1]","ann@example.org","[EMAIL_3]","joe@example.org"]



=== TEST 12: restore through a streamed answer, placeholders split across events, three ways
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern email restore;
        zt_mask_request_pattern us_ssn restore;
        proxy_buffering off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model;
    }
    location = /model {
        default_type text/event-stream;
        echo_read_request_body;
        echo -n 'data: {"choices":[{"index":0,"delta":{"content":"To [EM"}}]}\n\n'; echo_flush;
        echo -n 'data: {"choices":[{"index":0,"delta":{"content":"AIL_"}}]}\n\n'; echo_flush;
        echo -n 'data: {"choices":[{"index":0,"delta":{"content":"1], SSN [US_S"}}]}\n\n'; echo_flush;
        echo -n 'data: {"choices":[{"index":0,"delta":{"content":"SN_1]. ["}}]}\n\n'; echo_flush;
        echo -n 'data: {"choices":[{"index":0,"delta":{"content":"done]"},"finish_reason":"stop"}]}\n\n'; echo_flush;
        echo -n 'data: [DONE]\n\n';
    }
--- request
POST /t
{"messages":[{"role":"user","content":"I am ann@example.org, SSN 078-05-1120."}]}
--- response_body eval
qq!data: {"choices":[{"index":0,"delta":{"content":"To "}}]}\n\n!
. qq!data: {"choices":[{"index":0,"delta":{"content":""}}]}\n\n!
. qq!data: {"choices":[{"index":0,"delta":{"content":"ann\@example.org, SSN "}}]}\n\n!
. qq!data: {"choices":[{"index":0,"delta":{"content":"078-05-1120. "}}]}\n\n!
. qq!data: {"choices":[{"index":0,"delta":{"content":"[done]"},"finish_reason":"stop"}]}\n\n!
. "data: [DONE]\n\n"



=== TEST 13: the mapping is the request's own: another caller's answer with the same placeholder is left alone
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern email restore;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model;
    }
    location = /model {
        default_type application/json;
        echo_read_request_body;
        echo -n '{"a":"[EMAIL_1]"}';
    }
--- request eval
["POST /t\n{\"p\":\"ann\@example.org\"}", "POST /t\n{\"p\":\"nothing here\"}"]
--- response_body eval
['{"a":"ann@example.org"}', '{"a":"[EMAIL_1]"}']



=== TEST 14: a path rule with restore: whole values, strings given back as text, others as JSON
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request $.user.name restore;
        zt_mask_request $.user.id restore;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model;
    }
    location = /model {
        default_type application/json;
        echo_read_request_body;
        add_header X-Model-Saw $request_body;
        echo -n '{"text":"Hello [NAME_1] (#[ID_1])"}';
    }
--- request
POST /t
{"user":{"name":"Ann \"A\" Lee","id":4242}}
--- response_headers
X-Model-Saw: {"user":{"name":"[NAME_1]","id":"[ID_1]"}}
--- response_body chomp
{"text":"Hello Ann \"A\" Lee (#4242)"}



=== TEST 15: unless= lifts a request rule for a caller the condition holds for
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern email unless=group=support;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo_request_body; }
--- request eval
["POST /t\n{\"to\":\"bob\@example.com\"}", "POST /t\n{\"to\":\"bob\@example.com\"}"]
--- more_headers eval
["Authorization: Bearer $main::Token\nContent-Type: application/json",
 "Authorization: Bearer $main::Support\nContent-Type: application/json"]
--- response_body eval
['{"to":"[REDACTED]"}', '{"to":"bob@example.com"}']



=== TEST 16: without zt_policy the body is masked all the same, and refused if not JSON
--- config
    location = /nopolicy {
        zt_mask_request_pattern email;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo_request_body; }
--- request eval
["POST /nopolicy\n{\"to\":\"bob\@example.com\"}", "POST /nopolicy\nbob\@example.com"]
--- more_headers eval
["Content-Type: application/json", "Content-Type: text/plain"]
--- error_code eval
[200, 415]
--- response_body_like eval
['^\{"to":"\[REDACTED\]"\}$', 'unsupported_media_type']



=== TEST 17: a chunked body, and one spooled to a file, are masked with a Content-Length
--- config
    client_body_buffer_size 1k;
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern email;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo {
        default_type text/plain;
        echo_read_request_body;
        echo "length=$http_content_length te=$http_transfer_encoding";
        echo_request_body;
    }
--- raw_request eval
my $big = '{"pad":"' . ('x' x 3000) . '","to":"bob@example.com"}';
my $small = '{"to":"bob@example.com"}';
["POST /t HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer $main::Token\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
 . sprintf("%x\r\n%s\r\n0\r\n\r\n", length($small), $small),
 "POST /t HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer $main::Token\r\nContent-Type: application/json\r\nContent-Length: " . length($big) . "\r\nConnection: close\r\n\r\n$big"]
--- response_body eval
my $big = '{"pad":"' . ('x' x 3000) . '","to":"[REDACTED]"}';
["length=19 te=\n{\"to\":\"[REDACTED]\"}", "length=" . length($big) . " te=\n$big"]



=== TEST 18: a body without anything to mask goes on as it came, and a GET without a body passes
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_request_pattern email;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo {
        default_type text/plain;
        echo_read_request_body;
        echo "length=$http_content_length";
        echo_request_body;
    }
--- request eval
["POST /t\n{ \"a\" : [1, 2.50, \"\\u00e9\"] }", "GET /t"]
--- response_body eval
my $b = "{ \"a\" : [1, 2.50, \"\\u00e9\"] }";
["length=" . length($b) . "\n$b", "length=\n"]



=== TEST 19: zt_mask_request off lifts the inherited rules
--- config
    location /p/ {
        zt_mask_request_pattern email;
        location = /p/t {
            zt_mask_request off;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        }
    }
    location = /echo { default_type text/plain; echo_read_request_body; echo_request_body; }
--- request
POST /p/t
{"to":"bob@example.com"}
--- response_body chomp
{"to":"bob@example.com"}



=== TEST 20: "restore" belongs to request rules, and excludes with=
--- config
    location = /t {
        zt_mask_request_pattern email restore with=X;
    }
--- request
GET /t
--- must_die
--- error_log
"restore" and "with=" exclude each other in "zt_mask_request_pattern"



=== TEST 21: a response rule takes no "restore"
--- config
    location = /t {
        zt_mask_pattern email restore;
    }
--- request
GET /t
--- must_die
--- error_log
invalid parameter "restore" in "zt_mask_pattern"



=== TEST 22: with response masking too, the caller's own value comes back unmasked, anything else the model says is masked
--- config
    location = /t {
        zt_policy allow scope=inference:invoke;
        zt_mask_pattern credit_card;
        zt_mask_request_pattern credit_card restore;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model;
    }
    location = /model {
        default_type application/json;
        echo_read_request_body;
        echo -n '{"a":"yours: [CREDIT_CARD_1], another: 5555 5555 5555 4444"}';
    }
--- request
POST /t
{"p":"my card 4111 1111 1111 1111"}
--- response_body chomp
{"a":"yours: 4111 1111 1111 1111, another: [REDACTED]"}
