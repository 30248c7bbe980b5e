# Newline-delimited JSON answers (application/x-ndjson, as Ollama streams
# them; application/ndjson, application/jsonl): each line is one JSON text,
# masked as it arrives, and a secret split across lines is joined per
# channel as in an event stream.

use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Echo;

# an Ollama /api/chat line carrying one piece of content
sub chat {
    my ($content, $done) = @_;
    $done //= 'false';
    return qq!{"model":"llama3","message":{"role":"assistant","content":"$content"},"done":$done}\n!;
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: application/x-ndjson is masked line by line: paths and detectors
--- config
    location /t {
        default_type application/x-ndjson;
        zt_mask $..api_key;
        zt_mask_pattern email;
        echo -n '{"api_key":"k1","text":"mail x@y.io ?"}\n';
        echo_flush;
        echo -n '{"nested":{"api_key":42},"n":[1, 2]}\n';
    }
--- request
GET /t
--- response_body eval
qq!{"api_key":"[REDACTED]","text":"mail [REDACTED] ?"}\n!
. qq!{"nested":{"api_key":"[REDACTED]"},"n":[1, 2]}\n!
--- no_error_log
[error]



=== TEST 2: a card split across three Ollama chat lines is masked
--- config eval
"    location /t {
        default_type application/x-ndjson;
        zt_mask_pattern credit_card;
" . main::echo_chunks(main::chat("card 4111 11"), main::chat("11 1111 "),
               main::chat("1111 ok"), main::chat("", "true")) . "
    }"
--- request
GET /t
--- response_body_unlike: 4111|1111
--- response_body_like: REDACTED
--- no_error_log
[error]



=== TEST 3: the joined text comes out in the channel's lines, each still one JSON text
--- config eval
"    location /t {
        default_type application/x-ndjson;
        zt_mask_pattern credit_card;
" . main::echo_chunks(main::chat("card 4111 11"), main::chat("11 1111 "),
               main::chat("1111 ok"), main::chat("", "true")) . "
    }"
--- request
GET /t
--- response_body eval
main::chat("card ") . main::chat("") . main::chat("[REDACTED] ok")
. main::chat("", "true")
--- no_error_log
[error]



=== TEST 4: /api/generate's "response" pieces: a card split in two
--- config
    location /t {
        default_type application/x-ndjson;
        zt_mask_pattern credit_card;
        echo -n '{"model":"m","response":"4242 4242 ","done":false}\n';
        echo_flush;
        echo -n '{"model":"m","response":"4242 4242.","done":false}\n';
        echo_flush;
        echo -n '{"model":"m","response":"","done":true}\n';
    }
--- request
GET /t
--- response_body eval
qq!{"model":"m","response":"","done":false}\n!
. qq!{"model":"m","response":"[REDACTED].","done":false}\n!
. qq!{"model":"m","response":"","done":true}\n!
--- no_error_log
[error]



=== TEST 5: held-back text still goes out when the stream ends without a last line feed
--- config
    location /t {
        default_type application/x-ndjson;
        zt_mask_pattern credit_card;
        echo -n '{"response":"ends 4242 4242"}';
    }
--- request
GET /t
--- response_body eval
qq!{"response":"ends "}\n{"response":"4242 4242"}\n!
--- no_error_log
[error]



=== TEST 6: CR LF line ends and blank lines keep their bytes
--- config
    location /t {
        default_type application/x-ndjson;
        zt_mask $.k;
        echo -n '{"k":"a"}\r\n\r\n  \n{"k":"b"}\r\n';
    }
--- request
GET /t
--- response_body eval
qq!{"k":"[REDACTED]"}\r\n\r\n  \n{"k":"[REDACTED]"}\r\n!
--- no_error_log
[error]



=== TEST 7: a line split across chunks is masked whole
--- config
    location /t {
        default_type application/x-ndjson;
        zt_mask $.k;
        echo -n '{"k":"sec';
        echo_flush;
        echo -n 'ret","v":1}\n{"k"';
        echo_flush;
        echo -n ':"x"}\n';
    }
--- request
GET /t
--- response_body eval
qq!{"k":"[REDACTED]","v":1}\n{"k":"[REDACTED]"}\n!
--- no_error_log
[error]



=== TEST 8: a UTF-8 BOM before the first line does not hide it from the paths
--- config eval
"    location /t {
        default_type application/x-ndjson;
        zt_mask \$.k;
        echo -n '\xef\xbb\xbf{\"k\":\"secret\"}\\n';
    }"
--- request
GET /t
--- response_body eval
qq!\xef\xbb\xbf{"k":"[REDACTED]"}\n!
--- no_error_log
[error]



=== TEST 9: a line that is not valid JSON fails closed
--- config
    location /t {
        default_type application/x-ndjson;
        zt_mask $.k;
        echo -n '{"k":"secret",}\n';
    }
--- request
GET /t
--- error_code: 502
--- response_body_unlike: secret
--- error_log
zt: mask:



=== TEST 10: a line that is not JSON at all fails closed, detectors or not
--- config
    location /t {
        default_type application/x-ndjson;
        zt_mask_pattern email;
        echo -n 'mail x@y.io !\n';
    }
--- request
GET /t
--- error_code: 502
--- response_body_unlike: x@y
--- error_log
zt: mask:



=== TEST 11: a line that is a JSON string is masked as one
--- config
    location /t {
        default_type application/x-ndjson;
        zt_mask_pattern email;
        echo -n '"mail x@y.io !"\n';
    }
--- request
GET /t
--- response_body eval
'"mail [REDACTED] !"' . "\n"
--- no_error_log
[error]



=== TEST 12: application/ndjson and application/jsonl are masked the same way
--- config
    location /a {
        default_type application/ndjson;
        zt_mask_pattern email;
        echo -n '{"t":"x@y.io !"}\n';
    }
    location /b {
        default_type application/jsonl;
        zt_mask_pattern email;
        echo -n '{"t":"x@y.io !"}\n';
    }
--- request eval
["GET /a", "GET /b"]
--- response_body eval
['{"t":"[REDACTED] !"}' . "\n", '{"t":"[REDACTED] !"}' . "\n"]
--- no_error_log
[error]



=== TEST 13: two interleaved channels (two choices) are not mixed
--- config
    location /t {
        default_type application/x-ndjson;
        zt_mask_pattern credit_card;
        echo -n '{"choices":[{"index":0,"text":"a 4111 1111 "}]}\n';
        echo -n '{"choices":[{"index":1,"text":"b 4111 1111 "}]}\n';
        echo -n '{"choices":[{"index":0,"text":"1111 1111 A"}]}\n';
        echo -n '{"choices":[{"index":1,"text":"1234 5678 B"}]}\n';
    }
--- request
GET /t
--- response_body eval
qq!{"choices":[{"index":0,"text":"a "}]}\n!
. qq!{"choices":[{"index":1,"text":"b "}]}\n!
. qq!{"choices":[{"index":0,"text":"[REDACTED] A"}]}\n!
. qq!{"choices":[{"index":1,"text":"4111 1111 1234 5678 B"}]}\n!
--- no_error_log
[error]



=== TEST 14: the type is read as the upstream sends it: case and parameters do not matter
--- config
    location /up {
        default_type Application/X-NDJSON;
        charset utf-8;
        charset_types Application/X-NDJSON;
        echo -n '{"k":"secret"}\n';
    }
    location /t {
        zt_mask $.k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
--- request
GET /t
--- response_headers_like
Content-Type: Application/X-NDJSON; charset=utf-8
--- response_body eval
qq!{"k":"[REDACTED]"}\n!
--- no_error_log
[error]



=== TEST 15: a card split across lines is masked wherever the chunks are cut
--- config eval
my $stream = main::chat("card 4111 11") . main::chat("11 1111 ") . main::chat("1111 ok")
           . main::chat("", "true");
my $locs = '';
for my $k (1 .. length($stream) - 1) {
    $locs .= "    location = /k$k { echo -n -- '" . main::quote_conf(substr($stream, 0, $k))
           . "'; echo_flush; echo -n -- '" . main::quote_conf(substr($stream, $k)) . "'; }\n";
}
"    default_type application/x-ndjson;
    zt_mask_pattern credit_card;
$locs"
--- request eval
my $n = length(main::chat("card 4111 11") . main::chat("11 1111 ") . main::chat("1111 ok")
               . main::chat("", "true"));
[map { "GET /k$_" } 1 .. $n - 1]
--- response_body eval
my $n = length(main::chat("card 4111 11") . main::chat("11 1111 ") . main::chat("1111 ok")
               . main::chat("", "true"));
[map { main::chat("card ") . main::chat("") . main::chat("[REDACTED] ok")
       . main::chat("", "true") } 1 .. $n - 1]
--- no_error_log
[error]



=== TEST 16: zt_mask_types does not take the newline-delimited types away
--- config
    location /t {
        default_type application/x-ndjson;
        zt_mask_types text/plain;
        zt_mask $.k;
        echo -n '{"k":"secret"}\n';
    }
--- request
GET /t
--- response_body eval
qq!{"k":"[REDACTED]"}\n!
--- no_error_log
[error]



=== TEST 17: placeholders of the request come back in an NDJSON answer, split across lines
--- config
    location = /t {
        zt_mask_request_pattern email restore;
        proxy_buffering off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model;
    }
    location = /model {
        default_type application/x-ndjson;
        echo_read_request_body;
        echo -n '{"message":{"content":"To [EM"},"done":false}\n'; echo_flush;
        echo -n '{"message":{"content":"AIL_1] now"},"done":false}\n'; echo_flush;
        echo -n '{"message":{"content":""},"done":true}\n';
    }
--- request
POST /t
{"messages":[{"role":"user","content":"I am ann@example.org."}]}
--- more_headers
Content-Type: application/json
--- response_body eval
qq!{"message":{"content":"To "},"done":false}\n!
. qq!{"message":{"content":"ann\@example.org now"},"done":false}\n!
. qq!{"message":{"content":""},"done":true}\n!
--- no_error_log
[error]
