# Failing closed: what cannot be masked is never sent.  Before the header
# is out the answer is a 502; after it, the connection is closed.  The
# error log says why.

use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: invalid JSON in the first buffer: 502, nothing of the body
--- config
    location /t {
        default_type application/json;
        zt_mask $.secret;
        echo -n '{"secret":"s3cr3t" "x":1}';
    }
--- request
GET /t
--- error_code: 502
--- response_body_unlike: s3cr3t
--- error_log
zt: mask: "," or a bracket expected at byte 19 of the response, answered 502



=== TEST 2: an upstream's error page sent as application/json: 502
--- config
    location /t {
        zt_mask $.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        echo -n 'Internal error: secret=s3cr3t';
    }
--- request
GET /t
--- error_code: 502
--- response_body_unlike: s3cr3t
--- error_log
zt: mask: a value expected at byte 0 of the response, answered 502



=== TEST 3: JSON cut short (a file: body and its end in one buffer): 502
--- user_files
>>> m/cut.json
{"a":["x@y.io",
--- config
    location /m/ {
        types { application/json json; }
        zt_mask_pattern email;
    }
--- request
GET /m/cut.json
--- error_code: 502
--- response_body_unlike: x@y\.io
--- error_log
zt: mask: truncated JSON at byte 16 of the response, answered 502



=== TEST 4: what JSON does not allow fails, each in turn
--- config
    default_type application/json;
    zt_mask $.a;
    location = /comma { echo -n '{"a":1,}'; }
    location = /quote { echo -n "{'a':1}"; }
    location = /nan { echo -n '{"b":NaN}'; }
    location = /zero { echo -n '{"b":012}'; }
    location = /escape { echo -n '{"b":"\\x"}'; }
    location = /control { echo -n '{"b":"a	b"}'; }
    location = /bracket { echo -n '{"b":[1}'; }
    location = /key { echo -n '{b:1}'; }
    location = /dot { echo -n '{"b":1.}'; }
    location = /literal { echo -n '{"b":tru}'; }
--- request eval
[map { "GET /$_" } qw(comma quote nan zero escape control bracket key dot literal)]
--- error_code eval
[(502) x 10]
--- no_error_log
[alert]



=== TEST 5: invalid JSON after the header is out: the connection is closed, the rest never sent
--- config
    location /t {
        default_type application/json;
        zt_mask $.secret;
        echo -n '{"ok":"first part",';
        echo_flush;
        echo_sleep 0.05;
        echo -n '"secret":"s3cr3t" "more":"m0re"}';
    }
--- request
GET /t HTTP/1.0
--- error_code: 200
--- response_body chomp
{"ok":"first part",
--- error_log
zt: mask: "," or a bracket expected at byte 37 of the response, connection closed



=== TEST 6: a string value over zt_mask_buffer in the first buffer: 502
--- config
    location /t {
        default_type application/json;
        zt_mask_buffer 64;
        zt_mask_pattern credit_card;
        echo -n '{"a":"4111111111111111 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}';
    }
--- request
GET /t
--- error_code: 502
--- response_body_unlike: 4111
--- error_log
zt: mask: a string value is longer than zt_mask_buffer



=== TEST 7: a string value growing over zt_mask_buffer across buffers, after the header: closed
--- config
    location /t {
        default_type application/json;
        zt_mask_buffer 64;
        zt_mask_pattern credit_card;
        echo -n '{"ok":1,"a":"4111111111111111 ';
        echo_flush;
        echo_sleep 0.05;
        echo -n 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx';
        echo_flush;
        echo_sleep 0.05;
        echo -n '"}';
    }
--- request
GET /t HTTP/1.0
--- response_body chomp
{"ok":1,"a":
--- error_log
zt: mask: a string value is longer than zt_mask_buffer



=== TEST 8: values not looked at may be longer than zt_mask_buffer
--- config
    location /t {
        default_type application/json;
        zt_mask_buffer 64;
        zt_mask $.a;
        echo -n '{"a":"short","b":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}';
    }
--- request
GET /t
--- response_body chomp
{"a":"[REDACTED]","b":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
--- no_error_log
[error]



=== TEST 9: a gzip-encoded upstream response is never passed: 502
--- config
    location /t {
        zt_mask $.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        add_header Content-Encoding gzip;
        echo -n '{"secret":"s3cr3t"}';
    }
--- request
GET /t
--- more_headers
Accept-Encoding: gzip
--- error_code: 502
--- response_headers
!Content-Encoding
--- response_body_unlike: s3cr3t
--- error_log
zt: mask: the response has "Content-Encoding: gzip", which cannot be masked



=== TEST 10: Content-Encoding: identity is fine
--- config
    location /t {
        zt_mask $.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        add_header Content-Encoding identity;
        echo -n '{"secret":"s3cr3t"}';
    }
--- request
GET /t
--- error_code: 200
--- response_body chomp
{"secret":"[REDACTED]"}



=== TEST 11: nesting deeper than the scanner follows: 502
--- config eval
"    location /t {
        default_type application/json;
        zt_mask \$.a;
        echo_duplicate 1100 '[';
        echo_duplicate 1100 ']';
    }"
--- request
GET /t
--- error_code: 502
--- error_log
zt: mask: JSON nested too deep



=== TEST 12: an invalid JSON event in a stream after the first: closed, earlier events delivered
--- config
    location /t {
        default_type text/event-stream;
        zt_mask $.secret;
        echo -n 'data: {"secret":"a","n":1}\n\n';
        echo_flush;
        echo_sleep 0.05;
        echo -n 'data: {"secret":"b" "n":2}\n\n';
        echo -n 'data: {"secret":"c"}\n\n';
    }
--- request
GET /t HTTP/1.0
--- response_body eval
qq!data: {"secret":"[REDACTED]","n":1}\n\n!
--- error_log
zt: mask: "," or a bracket expected at byte 14 of an event's data, connection closed



=== TEST 13: an event over zt_mask_buffer: 502 when it is the first
--- config
    location /t {
        default_type text/event-stream;
        zt_mask_buffer 64;
        zt_mask $.secret;
        echo -n 'data: {"secret":"s3cr3t","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx';
        echo_flush;
        echo_sleep 0.05;
        echo -n '"}\n\n';
    }
--- request
GET /t
--- error_code: 502
--- response_body_unlike: s3cr3t
--- error_log
zt: mask: an event is longer than zt_mask_buffer



=== TEST 14: error_page can answer the 502 in the API's own shape
--- config
    location /t {
        default_type application/json;
        zt_mask $.secret;
        error_page 502 = /masking-failed;
        echo -n 'not json';
    }
    location = /masking-failed {
        internal;
        default_type application/json;
        return 502 '{"error":{"type":"gateway_error","code":"mask_failed","message":"the response could not be masked"}}';
    }
--- request
GET /t
--- error_code: 502
--- response_body chomp
{"error":{"type":"gateway_error","code":"mask_failed","message":"the response could not be masked"}}



=== TEST 15: JSON cut short when its end comes after the header: closed, log says why
--- config
    location /t {
        default_type application/json;
        zt_mask_pattern email;
        echo -n '{"a":["x@y.io",';
        echo_flush;
        echo_sleep 0.05;
    }
--- request
GET /t HTTP/1.0
--- response_body chomp
{"a":["[REDACTED]",
--- error_log
zt: mask: truncated JSON at byte 15 of the response, connection closed



=== TEST 16: a small proxied answer that arrives whole and is cut short: 502, not a closed connection
--- config
    location /t {
        zt_mask $.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        return 200 '{"ok":"fine","secret":"s3cr3t"';
    }
--- request
GET /t
--- error_code: 502
--- response_body_unlike: (s3cr3t|fine)
--- error_log
zt: mask: truncated JSON at byte 30 of the response, answered 502



=== TEST 17: the same without proxy buffering: 502
--- config
    location /t {
        zt_mask_pattern email;
        proxy_buffering off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        return 200 '{"to":"a@b.io","n":[1,2';
    }
--- request
GET /t
--- error_code: 502
--- response_body_unlike: (a@b|REDACTED)
--- error_log
zt: mask: truncated JSON at byte 23 of the response, answered 502



=== TEST 18: a chunked answer whose pieces and end come together, invalid after a valid start: 502
--- config
    location /t {
        zt_mask $.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        echo -n '{"ok":"first part",';
        echo_flush;
        echo -n '"secret":"s3cr3t" "x":1}';
    }
--- request
GET /t
--- error_code: 502
--- response_body_unlike: (s3cr3t|first part)
--- error_log
zt: mask: "," or a bracket expected at byte 37 of the response, answered 502



=== TEST 19: error_page shapes the 502 of an answer that arrived whole
--- config
    location /t {
        zt_mask $.secret;
        error_page 502 = /masking-failed;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        return 200 '{"secret":"s3cr3t","more":';
    }
    location = /masking-failed {
        internal;
        default_type application/json;
        return 502 '{"error":{"type":"gateway_error","code":"mask_failed"}}';
    }
--- request
GET /t
--- error_code: 502
--- response_body chomp
{"error":{"type":"gateway_error","code":"mask_failed"}}



=== TEST 20: a whole event stream with an invalid event after valid ones: 502
--- config
    location /t {
        zt_mask $.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type text/event-stream;
        echo -n 'data: {"secret":"a","n":1}\n\n';
        echo_flush;
        echo -n 'data: {"secret":"b" "n":2}\n\n';
    }
--- request
GET /t
--- error_code: 502
--- response_body_unlike: REDACTED
--- error_log
zt: mask: "," or a bracket expected at byte 14 of an event's data, answered 502



=== TEST 21: an answer that arrives whole and is valid goes out whole, once
--- config
    location /t {
        zt_mask $.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        echo -n '{"ok":"first part",';
        echo_flush;
        echo -n '"secret":"s3cr3t","x":1}';
    }
--- request
GET /t
--- error_code: 200
--- response_body chomp
{"ok":"first part","secret":"[REDACTED]","x":1}
--- no_error_log
[error]



=== TEST 22: an answer that arrives whole but is longer than zt_mask_buffer goes out as it is masked: a failure at its end closes
--- config
    location /t {
        zt_mask_buffer 64;
        zt_mask $.secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        return 200 '{"a":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","secret":"s3cr3t"';
    }
--- request
GET /t HTTP/1.0
--- ignore_response
--- error_log
zt: mask: truncated JSON at byte 115 of the response, connection closed
