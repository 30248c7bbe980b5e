# zt_mask: JSON paths in whole JSON responses; everything that is not
# masked stays byte for byte what the upstream sent.

use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: $.a.b masks a nested member and nothing else
--- config
    location /t {
        default_type application/json;
        zt_mask $.a.b;
        echo -n '{"a":{"b":"secret","c":"keep"},"b":"top"}';
    }
--- request
GET /t
--- response_body chomp
{"a":{"b":"[REDACTED]","c":"keep"},"b":"top"}
--- no_error_log
[error]



=== TEST 2: $.a[0] masks the first element only
--- config
    location /t {
        default_type application/json;
        zt_mask $.a[0];
        echo -n '{"a":["one","two",["three"]],"b":["one"]}';
    }
--- request
GET /t
--- response_body chomp
{"a":["[REDACTED]","two",["three"]],"b":["one"]}



=== TEST 3: $.a[1] counts elements of every kind
--- config
    location /t {
        default_type application/json;
        zt_mask $.a[2];
        echo -n '{"a":[{"x":[1,2]},[3,[4]],"third",4]}';
    }
--- request
GET /t
--- response_body chomp
{"a":[{"x":[1,2]},[3,[4]],"[REDACTED]",4]}



=== TEST 4: $.a[*].b masks b in every element, not elsewhere
--- config
    location /t {
        default_type application/json;
        zt_mask $.a[*].b;
        echo -n '{"a":[{"b":1,"c":2},{"c":3},{"b":{"deep":true}}],"b":5}';
    }
--- request
GET /t
--- response_body chomp
{"a":[{"b":"[REDACTED]","c":2},{"c":3},{"b":"[REDACTED]"}],"b":5}



=== TEST 5: $..name masks the name at any depth, also inside arrays
--- config
    location /t {
        default_type application/json;
        zt_mask $..email;
        echo -n '{"email":"a@x.io","user":{"email":"b@x.io","friends":[{"email":"c@x.io"},{"mail":"d"}]},"emails":["e"]}';
    }
--- request
GET /t
--- response_body chomp
{"email":"[REDACTED]","user":{"email":"[REDACTED]","friends":[{"email":"[REDACTED]"},{"mail":"d"}]},"emails":["e"]}



=== TEST 6: $.* and $['quoted key'] forms
--- config
    location /t {
        default_type application/json;
        zt_mask "$['a b'].*";
        echo -n '{"a b":{"x":1,"y":[2]},"ab":{"x":1}}';
    }
--- request
GET /t
--- response_body chomp
{"a b":{"x":"[REDACTED]","y":"[REDACTED]"},"ab":{"x":1}}



=== TEST 7: a masked number, literal, object or array becomes the replacement string
--- config
    location /t {
        default_type application/json;
        zt_mask $.n;
        zt_mask $.t;
        zt_mask $.z;
        zt_mask $.o;
        zt_mask $.a;
        zt_mask $.e;
        echo -n '{"n":-12.5e+3,"t":true,"z":null,"o":{"k":[1,{"x":"y"}]},"a":[[],{}],"e":"","keep":0}';
    }
--- request
GET /t
--- response_body chomp
{"n":"[REDACTED]","t":"[REDACTED]","z":"[REDACTED]","o":"[REDACTED]","a":"[REDACTED]","e":"[REDACTED]","keep":0}



=== TEST 8: with= text is JSON-escaped, quotes and backslashes included
--- config
    location /t {
        default_type application/json;
        zt_mask $.a 'with=say "no" \\ here';
        echo -n '{"a":"x","b":1}';
    }
--- request
GET /t
--- response_body chomp
{"a":"say \"no\" \\ here","b":1}



=== TEST 9: the first matching rule's with= wins
--- config
    location /t {
        default_type application/json;
        zt_mask $.a with=first;
        zt_mask $..a with=second;
        echo -n '{"a":1,"b":{"a":2}}';
    }
--- request
GET /t
--- response_body chomp
{"a":"first","b":{"a":"second"}}



=== TEST 10: byte-exact around masked values: pretty printing, odd whitespace, big numbers, escapes
--- config
    location /t {
        default_type application/json;
        zt_mask $.user.ssn;
        echo -n '{\n  "id" :\t12345678901234567890 ,\r\n  "huge": 1e400, "neg":-0.0E-0,\n  "text": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t",\n  "user" : { "ssn"  :   "078-05-1120"   , "n" : [ 1 , 2 ,3 ]  } ,\n  "unicode": "日本語"   \n}\n  ';
    }
--- request
GET /t
--- response_body eval
qq!{\n  "id" :\t12345678901234567890 ,\r\n  "huge": 1e400, "neg":-0.0E-0,\n  "text": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t",\n  "user" : { "ssn"  :   "[REDACTED]"   , "n" : [ 1 , 2 ,3 ]  } ,\n  "unicode": "日本語"   \n}\n  !
--- no_error_log
[error]



=== TEST 11: byte-exact with deep nesting; a path 40 levels down is masked
--- config eval
my $open = CORE::join '', map { qq!{"k$_":[! } 1 .. 40;
my $close = ']}' x 40;
my $path = CORE::join '', map { ".k$_\[0]" } 1 .. 40;
"    location /t {
        default_type application/json;
        zt_mask \$$path.s;
        zt_mask \$.x;
        echo -n '$open {\"s\":\"deep\", \"t\" : \"keep\"} $close';
    }"
--- request
GET /t
--- response_body eval
my $open = CORE::join '', map { qq!{"k$_":[! } 1 .. 40;
my $close = ']}' x 40;
qq!$open {"s":"[REDACTED]", "t" : "keep"} $close!
--- no_error_log
[error]



=== TEST 12: a key written with escapes is the same key
--- config
    location /t {
        default_type application/json;
        zt_mask $.name;
        echo -n '{"na\\u006De":"x","n\\"ame":"y"}';
    }
--- request
GET /t
--- response_body chomp
{"na\u006De":"[REDACTED]","n\"ame":"y"}



=== TEST 13: keys that merely start like the name do not match
--- config
    location /t {
        default_type application/json;
        zt_mask $.name;
        echo -n '{"nam":1,"names":2,"name ":3,"Name":4}';
    }
--- request
GET /t
--- response_body chomp
{"nam":1,"names":2,"name ":3,"Name":4}



=== TEST 14: a sequence of JSON texts (NDJSON) is masked text by text
--- config
    location /t {
        default_type application/json;
        zt_mask $.s;
        echo '{"s":1}';
        echo '{"s":2,"t":3}';
    }
--- request
GET /t
--- response_body
{"s":"[REDACTED]"}
{"s":"[REDACTED]","t":3}



=== TEST 15: Content-Length is dropped when masking, kept otherwise
--- user_files
>>> m/a.json
{"secret":"x","n":1}
>>> p/a.json
{"secret":"x","n":1}
--- config
    location /m/ {
        types { application/json json; }
        zt_mask $.secret;
    }
    location /p/ {
        types { application/json json; }
    }
--- request eval
["GET /m/a.json", "GET /p/a.json"]
--- response_headers eval
["!Content-Length", "Content-Length: 21"]
--- response_body eval
[qq!{"secret":"[REDACTED]","n":1}\n!, qq!{"secret":"x","n":1}\n!]



=== TEST 16: types outside zt_mask_types pass untouched
--- config
    location /t {
        default_type text/plain;
        zt_mask $.secret;
        echo -n '{"secret":"x"}';
    }
--- request
GET /t
--- response_body chomp
{"secret":"x"}



=== TEST 17: zt_mask_types adds types; application/json stays included
--- config
    location /t {
        zt_mask_types application/x-ndjson;
        zt_mask $.s;
        location /t/nd { default_type application/x-ndjson; echo -n '{"s":1}'; }
        location /t/js { proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up; }
    }
    location /up {
        default_type "application/json; charset=utf-8";
        echo -n '{"s":1}';
    }
--- request eval
["GET /t/nd", "GET /t/js"]
--- response_body eval
['{"s":"[REDACTED]"}', '{"s":"[REDACTED]"}']



=== TEST 18: HEAD is untouched: its Content-Length stays
--- user_files
>>> m/a.json
{"secret":"x","n":1}
--- config
    location /m/ {
        types { application/json json; }
        zt_mask $.secret;
    }
--- request
HEAD /m/a.json
--- response_headers
Content-Length: 21
--- no_error_log
[error]



=== TEST 19: 304 and 204 are untouched
--- user_files
>>> m/a.json
{"secret":"x","n":1}
--- config
    location /m/ {
        types { application/json json; }
        if_modified_since before;
        zt_mask $.secret;
    }
    location /empty {
        default_type application/json;
        zt_mask $.secret;
        return 204;
    }
--- request eval
["GET /m/a.json", "GET /empty"]
--- more_headers eval
["If-Modified-Since: Thu, 01 Jan 2099 00:00:00 GMT", ""]
--- error_code eval
[304, 204]
--- no_error_log
[error]



=== TEST 20: subrequests are untouched
--- config
    location /main {
        default_type application/json;
        echo_location /sub;
    }
    location /sub {
        default_type application/json;
        zt_mask $.s;
        echo -n '{"s":1}';
    }
--- request
GET /main
--- response_body chomp
{"s":1}



=== TEST 21: rules are inherited, replaced by a location's own, and zt_mask off turns them off
--- config
    zt_mask $.a;
    location /inherit { default_type application/json; echo -n '{"a":1,"b":2}'; }
    location /own { default_type application/json; zt_mask $.b; echo -n '{"a":1,"b":2}'; }
    location /off { default_type application/json; zt_mask off; echo -n '{"a":1,"b":2}'; }
--- request eval
["GET /inherit", "GET /own", "GET /off"]
--- response_body eval
['{"a":"[REDACTED]","b":2}', '{"a":1,"b":"[REDACTED]"}', '{"a":1,"b":2}']



=== TEST 22: an empty body passes
--- config
    location /t {
        default_type application/json;
        zt_mask $.a;
        echo -n '';
    }
--- request
GET /t
--- error_code: 200
--- response_body chomp
--- no_error_log
[error]



=== TEST 23: an upstream's JSON is masked through proxy_pass
--- config
    location /t {
        zt_mask $..token;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        echo -n '{"data":[{"token":"abc","id":1},{"token":"def","id":2}]}';
    }
--- request
GET /t
--- response_body chomp
{"data":[{"token":"[REDACTED]","id":1},{"token":"[REDACTED]","id":2}]}



=== TEST 24: bad paths and options are configuration errors
--- config
    location /t {
        zt_mask a.b;
    }
--- request
GET /t
--- must_die
--- error_log
invalid JSON path "a.b" in "zt_mask"



=== TEST 25: an unknown option is a configuration error
--- config
    location /t {
        zt_mask $.a replace=x;
    }
--- request
GET /t
--- must_die
--- error_log
invalid parameter "replace=x" in "zt_mask"



=== TEST 26: unless= masks for one caller and not for another
--- http_config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
    zt_audience zt-gateway;
--- config
    location /t {
        zt_policy allow scope=inference:invoke;
        default_type application/json;
        zt_mask $..ssn unless=scope=pii:read;
        zt_mask $.owner unless=sub=bob;
        echo -n '{"owner":"bob","user":{"ssn":"078-05-1120"}}';
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
    "Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'inference:invoke' }),
    "Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'inference:invoke pii:read' }),
    "Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'inference:invoke', sub => 'bob' }),
]
--- response_body eval
[
    '{"owner":"[REDACTED]","user":{"ssn":"[REDACTED]"}}',
    '{"owner":"[REDACTED]","user":{"ssn":"078-05-1120"}}',
    '{"owner":"bob","user":{"ssn":"[REDACTED]"}}',
]



=== TEST 27: unless= never lifts the mask for a caller nobody verified
--- http_config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
    zt_audience zt-gateway;
--- config
    location /t {
        default_type application/json;
        zt_mask $.ssn unless=scope=pii:read;
        echo -n '{"ssn":"078-05-1120"}';
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'inference:invoke pii:read' })
--- response_body chomp
{"ssn":"[REDACTED]"}



=== TEST 28: a bad condition in unless= is a configuration error
--- config
    location /t {
        zt_mask $.a unless=colour=blue;
    }
--- request
GET /t
--- must_die
--- error_log
zt_mask: unknown condition "colour=blue"



=== TEST 29: zt_mask_types adds to the default types: event streams and NDJSON stay masked
--- config
    location /t {
        zt_mask_types text/plain;
        zt_mask $.k;
        location /t/sse { default_type text/event-stream; echo -n 'data: {"k":"s1"}\n\n'; }
        location /t/nd { default_type application/x-ndjson; echo -n '{"k":"s2"}\n'; }
        location /t/txt { default_type text/plain; echo -n '{"k":"s3"}'; }
    }
--- request eval
["GET /t/sse", "GET /t/nd", "GET /t/txt"]
--- response_body eval
[qq!data: {"k":"[REDACTED]"}\n\n!, qq!{"k":"[REDACTED]"}\n!, '{"k":"[REDACTED]"}']
--- no_error_log
[error]



=== TEST 30: zt_mask_types * masks every type, an event stream as events
--- config
    location /t {
        zt_mask_types *;
        zt_mask $.k;
        location /t/sse { default_type text/event-stream; echo -n 'data: {"k":"s1"}\n\n'; }
        location /t/txt { default_type text/plain; echo -n '{"k":"s3"}'; }
        location /t/bad { default_type text/plain; echo -n 'not json'; }
    }
--- request eval
["GET /t/sse", "GET /t/txt", "GET /t/bad"]
--- error_code eval
[200, 200, 502]
--- response_body_like eval
[qr/^data: \{"k":"\[REDACTED\]"\}\n\n\z/, qr/^\{"k":"\[REDACTED\]"\}\z/, qr/Bad Gateway/]



=== TEST 31: an answer without a Content-Type is read as JSON: masked, or refused when it is not JSON
--- config
    location /src/ { default_type application/json; echo -n '{"k":"secret"}'; }
    location /src/bad { default_type text/plain; echo -n 'k=secret'; }
    location /up/ {
        proxy_hide_header Content-Type;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/src/;
    }
    location /t/ {
        zt_mask $.k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up/;
    }
--- request eval
["GET /t/ok", "GET /t/bad"]
--- error_code eval
[200, 502]
--- response_body_like eval
[qr/^\{"k":"\[REDACTED\]"\}\z/, qr/Bad Gateway/]
--- raw_response_headers_unlike eval
[qr/Content-Type/i, qr/secret/]



=== TEST 32: a partial answer (206) from an upstream that honours Range is refused: a slice cannot be judged
--- user_files
>>> up/a.json
{"a":"x","k":"4111 1111 1111 1111"}
--- config
    location /up/ {
        types { application/json json; }
    }
    location /t/ {
        zt_mask_pattern credit_card;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up/;
    }
--- request
GET /t/a.json
--- more_headers
Range: bytes=14-32
--- error_code: 502
--- response_body_unlike: 4111
--- error_log
zt: mask: a partial answer (206) cannot be masked



=== TEST 33: without Range the same answer is masked whole
--- user_files
>>> up/a.json
{"a":"x","k":"4111 1111 1111 1111"}
--- config
    location /up/ {
        types { application/json json; }
    }
    location /t/ {
        zt_mask_pattern credit_card;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up/;
    }
--- request
GET /t/a.json
--- response_body
{"a":"x","k":"[REDACTED]"}



=== TEST 34: a multipart answer to several ranges is refused too, though its type is not JSON
--- user_files
>>> up/a.json
{"a":"x","k":"4111 1111 1111 1111"}
--- config
    location /up/ {
        types { application/json json; }
    }
    location /t/ {
        zt_mask_pattern credit_card;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up/;
    }
--- request
GET /t/a.json
--- more_headers
Range: bytes=14-22,24-32
--- error_code: 502
--- response_body_unlike: 4111
--- error_log
zt: mask: a partial answer (206) cannot be masked
