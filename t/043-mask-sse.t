# Server-sent events: masked event by event as they arrive; a secret split
# across the delta.content of several events is still masked.

use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Echo;

# an OpenAI-style chunk carrying one piece of content
sub chunk {
    my ($content, %o) = @_;
    my $index = $o{index} // 0;
    my $finish = defined $o{finish} ? qq!"$o{finish}"! : 'null';
    my $delta = defined $content ? qq!{"content":"$content"}! : '{}';
    return qq!data: {"id":"c1","object":"chat.completion.chunk","choices":!
         . qq![{"index":$index,"delta":$delta,"finish_reason":$finish}]}\n\n!;
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: each event's JSON is masked; other fields, comments and [DONE] pass as they are
--- config
    location /t {
        default_type text/event-stream;
        zt_mask $..api_key;
        zt_mask_pattern email;
        echo -n ': keep-alive\n\nretry: 1000\n\n';
        echo -n 'event: message\nid: 1\ndata: {"api_key":"k1","text":"mail x@y.io ?"}\n\n';
        echo_flush;
        echo -n 'id: 2\ndata:{"nested":{"api_key":42},"n":[1, 2]}\n\n';
        echo -n 'data: [DONE]\n\n';
    }
--- request
GET /t
--- response_body eval
": keep-alive\n\nretry: 1000\n\n"
. qq!event: message\nid: 1\ndata: {"api_key":"[REDACTED]","text":"mail [REDACTED] ?"}\n\n!
. qq!id: 2\ndata:{"nested":{"api_key":"[REDACTED]"},"n":[1, 2]}\n\n!
. "data: [DONE]\n\n"
--- no_error_log
[error]



=== TEST 2: an event without anything to mask goes out byte for byte, CRLF included
--- config
    location /t {
        default_type text/event-stream;
        zt_mask $.secret;
        echo -n 'event: a\r\ndata: {"x" : 1 ,\r\ndata:  "y":[ ]}\r\n\r\n';
        echo -n 'data: {"secret":1}\r\n\r\n';
    }
--- request
GET /t
--- response_body eval
qq!event: a\r\ndata: {"x" : 1 ,\r\ndata:  "y":[ ]}\r\n\r\n!
. qq!data: {"secret":"[REDACTED]"}\r\n\r\n!



=== TEST 3: JSON spread over several data lines is masked, the lines kept
--- config
    location /t {
        default_type text/event-stream;
        zt_mask $.b;
        echo -n 'event: multi\ndata: {"a":1,\ndata: "b":"secret",\ndata: "c":3}\n\n';
    }
--- request
GET /t
--- response_body eval
qq!event: multi\ndata: {"a":1,\ndata: "b":"[REDACTED]",\ndata: "c":3}\n\n!



=== TEST 4: a card number split across 3 deltas is masked; the rest arrives unchanged
--- config eval
"    location /t {
        default_type text/event-stream;
        zt_mask_pattern credit_card;
" . main::echo_chunks(main::chunk("My card is 4111 1111"), main::chunk(" 1111 "),
                      main::chunk("1111 thanks"), main::chunk(undef, finish => 'stop'),
                      "data: [DONE]\n\n")
. "    }"
--- request
GET /t
--- response_body eval
main::chunk("My card is ") . main::chunk("") . main::chunk("[REDACTED] thanks")
. main::chunk(undef, finish => 'stop') . "data: [DONE]\n\n"
--- no_error_log
[error]



=== TEST 5: the same stream split at every byte gives the same events
--- config eval
my $stream = main::chunk("key sk-abcdefghij") . main::chunk("klmnopqrstuvwxyz and") . main::chunk(" more")
           . "data: [DONE]\n\n";
my $locs = '';
for my $k (1 .. length($stream) - 1) {
    $locs .= "    location = /k$k { echo -n -- '" . main::quote_conf(substr($stream, 0, $k))
           . "'; echo_flush; echo -n -- '" . main::quote_conf(substr($stream, $k)) . "'; }\n";
}
"    default_type text/event-stream;
    zt_mask_pattern api_key;
$locs"
--- request eval
my $stream = main::chunk("key sk-abcdefghij") . main::chunk("klmnopqrstuvwxyz and") . main::chunk(" more")
           . "data: [DONE]\n\n";
[map { "GET /k$_" } 1 .. length($stream) - 1]
--- response_body eval
my $stream = main::chunk("key sk-abcdefghij") . main::chunk("klmnopqrstuvwxyz and") . main::chunk(" more")
           . "data: [DONE]\n\n";
my $out = main::chunk("key ") . main::chunk("[REDACTED] and") . main::chunk(" more") . "data: [DONE]\n\n";
[map { $out } 1 .. length($stream) - 1]
--- no_error_log
[error]



=== TEST 6: the first event reaches the client while the upstream still waits to send the second
--- config
    location /t {
        zt_mask_pattern credit_card;
        proxy_buffering off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type text/event-stream;
        echo -n 'data: {"choices":[{"index":0,"delta":{"content":"card 4111111111111111."}}]}\n\n';
        echo_flush;
        echo_sleep 3;
        echo -n 'data: {"choices":[{"index":0,"delta":{"content":"second"}}]}\n\n';
    }
--- request
GET /t HTTP/1.0
--- timeout: 1
--- abort
--- error_code: 200
--- response_body eval
qq!data: {"choices":[{"index":0,"delta":{"content":"card [REDACTED]."}}]}\n\n!



=== TEST 7: what is held back at the end of the stream goes out, masked, before [DONE]
--- config eval
"    location /t {
        default_type text/event-stream;
        zt_mask_pattern credit_card;
" . main::echo_chunks(main::chunk("pay 4111 1111"), main::chunk(" 1111 1111"), "data: [DONE]\n\n")
. "    }"
--- request
GET /t
--- response_body eval
main::chunk("pay ") . main::chunk("")
. qq!data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"[REDACTED]"}}]}\n\n!
. "data: [DONE]\n\n"



=== TEST 8: a finish_reason releases what is held back into its own content
--- config eval
"    location /t {
        default_type text/event-stream;
        zt_mask_pattern credit_card;
" . main::echo_chunks(main::chunk("id 12345"), main::chunk("678", finish => 'length'), "data: [DONE]\n\n")
. "    }"
--- request
GET /t
--- response_body eval
main::chunk("id ") . main::chunk("12345678", finish => 'length') . "data: [DONE]\n\n"



=== TEST 9: a finish event without content gets what was held back just before it
--- config eval
"    location /t {
        default_type text/event-stream;
        zt_mask_pattern credit_card;
" . main::echo_chunks(main::chunk("n 4111111111111111"), main::chunk(undef, finish => 'stop'))
. "    }"
--- request
GET /t
--- response_body eval
main::chunk("n ")
. qq!data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"[REDACTED]"}}]}\n\n!
. main::chunk(undef, finish => 'stop')



=== TEST 10: choices are followed by their index: two interleaved answers
--- config eval
"    location /t {
        default_type text/event-stream;
        zt_mask_pattern credit_card;
" . main::echo_chunks(main::chunk("a 4111 1111", index => 0), main::chunk("b 4111 1111", index => 1),
                      main::chunk(" 1111 1111 x", index => 1), main::chunk(" 1111 1112 y", index => 0),
                      "data: [DONE]\n\n")
. "    }"
--- request
GET /t
--- response_body eval
main::chunk("a ", index => 0) . main::chunk("b ", index => 1)
. main::chunk("[REDACTED] x", index => 1) . main::chunk("4111 1111 1111 1112 y", index => 0)
. "data: [DONE]\n\n"



=== TEST 11: legacy completions stream their text in choices[].text; a trailing word waits
--- config
    location /t {
        default_type text/event-stream;
        zt_mask_pattern email;
        echo -n 'data: {"choices":[{"text":"write to bob","index":0}]}\n\n';
        echo -n 'data: {"choices":[{"text":"@example.com now","index":0}]}\n\n';
        echo -n 'data: {"choices":[{"text":"","index":0,"finish_reason":"stop"}]}\n\n';
    }
--- request
GET /t
--- response_body eval
qq!data: {"choices":[{"text":"write to ","index":0}]}\n\n!
. qq!data: {"choices":[{"text":"[REDACTED] ","index":0}]}\n\n!
. qq!data: {"choices":[{"text":"now","index":0,"finish_reason":"stop"}]}\n\n!



=== TEST 12: held-back legacy text goes out in an event of its own at the end
--- config
    location /t {
        default_type text/event-stream;
        zt_mask_pattern email;
        echo -n 'data: {"choices":[{"text":"hello","index":2}]}\n\n';
    }
--- request
GET /t
--- response_body eval
qq!data: {"choices":[{"text":"","index":2}]}\n\n!
. qq!data: {"choices":[{"index":2,"text":"hello"}]}\n\n!



=== TEST 13: plain-text data is looked into by the detectors; what may go on waits for the next event or the end
--- config
    location /t {
        default_type text/event-stream;
        zt_mask_pattern email;
        echo -n 'data: reach me at a@b.io\ndata: or c@d.io\n\n';
    }
--- request
GET /t
--- response_body eval
"data: reach me at [REDACTED]\ndata: or \n\n"
. "data: [REDACTED]\n\n"



=== TEST 14: an event split over many small buffers
--- config eval
my $ev = qq!data: {"user":{"email":"someone\@example.com"},"n":1}\n\n!;
"    location /t {
        default_type text/event-stream;
        zt_mask \$.user.email;
" . main::echo_chunks(split //, $ev) . "    }"
--- request
GET /t
--- response_body eval
qq!data: {"user":{"email":"[REDACTED]"},"n":1}\n\n!



=== TEST 15: through a buffering proxy the stream is masked all the same
--- config eval
"    location /t {
        zt_mask_pattern credit_card;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type text/event-stream;
" . main::echo_chunks(main::chunk("pay 4111 1111"), main::chunk(" 1111 1111 now"), "data: [DONE]\n\n")
. "    }"
--- request
GET /t
--- response_body eval
main::chunk("pay ") . main::chunk("[REDACTED] now") . "data: [DONE]\n\n"
--- no_error_log
[error]



=== TEST 16: events ended by bare CRs
--- config
    location /t {
        default_type text/event-stream;
        zt_mask $.s;
        echo -n 'id: 1\rdata: {"s":1}\r\r';
        echo_flush;
        echo -n 'data: {"s":2}\r\r';
    }
--- request
GET /t
--- response_body eval
qq!id: 1\rdata: {"s":"[REDACTED]"}\r\r! . qq!data: {"s":"[REDACTED]"}\r\r!



=== TEST 17: a card split after a run of Unicode separators is held back and masked
--- config eval
"    location /t {
        default_type text/event-stream;
        zt_mask_pattern credit_card;
" . main::echo_chunks(main::chunk("card 4111\\u00a0\\u2009"), main::chunk("-1111\\u202f1111"),
                      main::chunk("\\u00a01111 ok"), main::chunk(undef, finish => 'stop'),
                      "data: [DONE]\n\n")
. "    }"
--- request
GET /t
--- response_body eval
main::chunk("card ") . main::chunk("") . main::chunk("[REDACTED] ok")
. main::chunk(undef, finish => 'stop') . "data: [DONE]\n\n"
--- no_error_log
[error]
