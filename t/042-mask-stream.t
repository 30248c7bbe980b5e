# The JSON scanner works on the body as it arrives: values split across
# upstream buffers at any byte are masked, bodies far larger than any value
# stream through, and gzip still compresses what the filter lets out.

use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Echo;

our $Body = q!{"pre":"aaa","secret":"value_xyz","n":[1,2.5e3,true],!
          . q!"note":"card 4111 1111 1111 1111, mail a\u0040b.io","x":null}!;

our $Masked = q!{"pre":"aaa","secret":"[REDACTED]","n":[1,2.5e3,true],!
            . q!"note":"card [REDACTED], mail [REDACTED]","x":null}!;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: one byte per buffer: every boundary at once
--- config eval
my $echo = CORE::join '', map { "        echo -n -- '" . main::quote_conf($_) . "'; echo_flush;\n" }
                          split //, $main::Body;
"    location /t {
        default_type application/json;
        zt_mask \$.secret;
        zt_mask_pattern credit_card;
        zt_mask_pattern email;
$echo    }"
--- request
GET /t
--- response_body eval
$main::Masked
--- no_error_log
[error]



=== TEST 2: two buffers, split at each byte in turn
--- config eval
my $locs = '';
for my $k (1 .. length($main::Body) - 1) {
    my ($a, $b) = (substr($main::Body, 0, $k), substr($main::Body, $k));
    $locs .= "    location = /k$k { echo -n -- '" . main::quote_conf($a)
           . "'; echo_flush; echo -n -- '" . main::quote_conf($b) . "'; }\n";
}
"    default_type application/json;
    zt_mask \$.secret;
    zt_mask_pattern credit_card;
    zt_mask_pattern email;
$locs"
--- request eval
[map { "GET /k$_" } 1 .. length($main::Body) - 1]
--- response_body eval
[map { $main::Masked } 1 .. length($main::Body) - 1]
--- no_error_log
[error]



=== TEST 3: pieces with delays between them, through an unbuffered proxy
--- config
    location /t {
        zt_mask $..secret;
        zt_mask_pattern credit_card;
        proxy_buffering off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        echo -n '{"a":[{"secret":"ab'; echo_flush; echo_sleep 0.05;
        echo -n 'cd"},{"card":"4111 11'; echo_flush; echo_sleep 0.05;
        echo -n '11 1111 1111"}],"tail":1'; echo_flush; echo_sleep 0.05;
        echo -n '23}';
    }
--- request
GET /t
--- response_body chomp
{"a":[{"secret":"[REDACTED]"},{"card":"[REDACTED]"}],"tail":123}
--- no_error_log
[error]



=== TEST 4: a large body streams through small proxy buffers, every value masked
--- config
    location /t {
        zt_mask $[*].s;
        proxy_buffer_size 1k;
        proxy_buffers 4 1k;
        proxy_busy_buffers_size 1k;
        proxy_max_temp_file_size 0;
        zt_mask_buffer 1k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
    location /up {
        default_type application/json;
        echo -n '[';
        echo_duplicate 20000 '{"s":"secret","n":12345},';
        echo -n '{}]';
    }
--- request
GET /t
--- response_body eval
'[' . ('{"s":"[REDACTED]","n":12345},' x 20000) . '{}]'
--- timeout: 10
--- no_error_log
[error]



=== TEST 5: the upstream is asked for identity when masking is on, not otherwise
--- config
    location /masked {
        zt_mask $.x;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ae;
    }
    location /plain {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ae;
    }
    location /ae {
        default_type application/json;
        echo -n '{"ae":"$http_accept_encoding"}';
    }
--- request eval
["GET /masked", "GET /plain"]
--- more_headers
Accept-Encoding: gzip, deflate
--- response_body eval
['{"ae":"identity"}', '{"ae":"gzip, deflate"}']



=== TEST 6: gzip compresses the masked output for a client that accepts it
--- config
    location /t {
        zt_mask $.x;
        gzip on;
        gzip_types application/json;
        gzip_min_length 1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ae;
    }
    location /ae {
        default_type application/json;
        echo -n '{"x":"secret","ae":"$http_accept_encoding"}';
    }
--- request
GET /t
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
--- no_error_log
[error]



=== TEST 7: what gzip compressed is the masked body (gunzipped again by a proxy in front)
--- config
    location /outer {
        gunzip on;
        proxy_set_header Accept-Encoding gzip;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/inner;
        add_header X-Inner-Encoding $upstream_http_content_encoding;
    }
    location /inner {
        default_type application/json;
        gzip on;
        gzip_types application/json;
        gzip_min_length 1;
        gzip_http_version 1.0;
        zt_mask $.secret;
        echo -n '{"secret":"s3cr3t","pad":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}';
    }
--- request
GET /outer
--- response_headers
X-Inner-Encoding: gzip
--- response_body chomp
{"secret":"[REDACTED]","pad":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
--- no_error_log
[error]



=== TEST 8: a string value split over many buffers, longer than one buffer, is masked
--- config eval
my $long = 'x' x 3000;
my $echo = CORE::join '', map { "        echo -n '$_'; echo_flush;\n" }
                          ('{"k":"', (map { "xxxxxxxxxx" } 1 .. 300), ' 4111111111111111 ', 'yy"}');
"    location /t {
        default_type application/json;
        zt_mask_pattern credit_card;
$echo    }"
--- request
GET /t
--- response_body eval
'{"k":"' . ('x' x 3000) . ' [REDACTED] yy"}'
--- no_error_log
[error]
