# Self test of the runner: every feature the zt-inference tests rely on,
# against plain core-nginx configs.  It passes under the bundled stand-in
# (t/lib) and under openresty's Test::Nginx alike; lines only an nginx built
# --with-debug writes are in "--- debug_log" (t/inc/ZT/Test.pm).
# Run: prove -I t/lib t/000-runner.t
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();

repeat_each(2);
no_shuffle();
workers(2);
master_on();
log_level('debug');

$ENV{TEST_NGINX_RUNNER_VALUE} = 'from-env';

# helpers a test file may use
is(repeat_each(), 2, 'repeat_each() returns the setting');
is(server_root(), $Test::Nginx::Util::ServRoot, 'server_root() is $Test::Nginx::Util::ServRoot');
is(html_dir(), server_root() . '/html', 'html_dir() is under the server root');
like(server_port(), qr/^\d+$/, 'server_port() is a number');

# default request for blocks that have none
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('request', "GET /t\n") unless defined $block->request
                                                || defined $block->raw_request
                                                || defined $block->pipelined_requests;
});

# custom section: --- json_body eval {...} compares the decoded JSON body
add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $want = $block->json_body;
    return unless defined $want;
    my $got = eval { JSON::PP::decode_json($body) };
    is_deeply($got, $want, $block->name . " - json body (req $req_idx, repeated $repeated_req_idx)");
});

run_tests();

__DATA__

=== TEST 1: return, default request from the preprocessor, headers present and absent
--- config
    location = /t { return 200 "ok\n"; }
--- error_code: 200
--- response_body
ok
--- response_headers
Content-Type: text/plain
Content-Length: 3
!X-Absent
--- no_error_log
[error]
[alert]



=== TEST 2: response_headers with $ServerPort, repeated response headers
--- config
    location = /t {
        add_header X-Port $server_port;
        add_header X-Two a;
        add_header X-Two b;
        return 200 "x";
    }
--- response_headers
X-Port: $ServerPort
X-Two: a, b
--- response_body chomp
x



=== TEST 3: response_headers_like (used only without response_headers)
--- config
    location = /t { add_header X-Port $server_port; return 200; }
--- response_headers_like
X-Port: \d+
Server: nginx.*
--- response_body



=== TEST 4: inline error_code, response_body_like is /s
--- config
    location = /t { return 403; }
--- error_code: 403
--- response_body_like: ^<html>.*403 Forbidden.*</html>



=== TEST 5: error_code_like, response_body_unlike
--- config
    location = /t { return 418 "teapot\n"; }
--- error_code_like: ^4\d\d$
--- response_body_unlike: coffee



=== TEST 6: repeated request headers are all sent
--- config
    location = /t { return 200 "$http_cookie|$http_x_foo\n"; }
--- more_headers
Cookie: a=1
# comment lines are skipped
Cookie: b=2
X-Foo: bar
--- response_body
a=1; b=2|bar



=== TEST 7: request body gets Content-Length (trimmed), proxy_pass to ourselves
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sink;
        add_header X-Body $request_body always;
        add_header X-Len $content_length always;
    }
    location = /sink { return 200 "sunk $request_method\n"; }
--- request
POST /t
hello world
--- response_headers
X-Body: hello world
X-Len: 11
--- response_body
sunk POST



=== TEST 8: explicit HTTP/1.0
--- config
    location = /t { return 200 "$server_protocol\n"; }
--- request
GET /t HTTP/1.0
--- response_body
HTTP/1.0



=== TEST 9: array of requests, expectations and more_headers paired by index
--- config
    location = /a { return 200 "a $http_x_n\n"; }
    location = /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- more_headers eval
["X-N: 1", "X-N: 2"]
--- error_code eval
[200, 404]
--- response_headers eval
["Content-Type: text/plain", "Content-Type: text/html"]
--- response_body eval
["a 1\n", qr/404 Not Found/]
--- no_error_log
[error]



=== TEST 10: raw_request is sent as-is
--- config
    location = /t { return 200 "$host\n"; }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: example.test\r\n\r\n"
--- response_body
example.test



=== TEST 11: raw_request as packets
--- config
    location = /t { return 200 "$host\n"; }
--- raw_request eval
["GET /t HTTP/1.0\r\nHo", "st: split.test\r\n\r\n"]
--- raw_request_middle_delay: 0.01
--- response_body
split.test



=== TEST 12: pipelined requests on one connection
--- config
    location = /p1 { return 200 "1\n"; }
    location = /p2 { return 200 "2\n"; }
--- pipelined_requests eval
["GET /p1", "GET /p2"]
--- response_body eval
["1\n", "2\n"]



=== TEST 13: chunked response is decoded
--- config
    location = /t {
        sub_filter_types text/plain;
        sub_filter_once off;
        sub_filter 'a' 'bb';
        return 200 "aac\n";
    }
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
bbbbc



=== TEST 14: HEAD request
--- config
    location = /t { return 200 "body\n"; }
--- request
HEAD /t
--- response_headers
Content-Length: 5
--- response_body



=== TEST 15: user_files with $TEST_NGINX_ expansion; $ServerPort in response_body
--- config
--- user_files
>>> foo.txt
port=$TEST_NGINX_SERVER_PORT
>>> sub/dir/bar.txt
bar
--- request eval
["GET /foo.txt", "GET /sub/dir/bar.txt"]
--- response_body eval
["port=\$ServerPort\n", "bar\n"]



=== TEST 16: error_log (substring, qr, array), grep_error_log, debug lines
--- config
--- request
GET /nope.html
--- error_code: 404
--- error_log eval
[qr/open\(\) ".*nope\.html" failed/, "[error]"]
--- debug_log
http request line: "GET /nope.html HTTP/1.1"
--- grep_error_log chop
No such file or directory
--- grep_error_log_out
No such file or directory
--- no_error_log
[alert]
[crit]



=== TEST 17: grep_error_log_out as an array indexed by repeat_each
--- config
--- request
GET /nope.html
--- error_code: 404
--- grep_error_log eval
qr/"[^"]*\/nope\.html" failed/
--- grep_error_log_out eval
[map { qq{"} . main::html_dir() . qq{/nope.html" failed\n} } 1 .. 2]



=== TEST 18: main_config, http_config and config see $TEST_NGINX_* variables
--- main_config
env TEST_NGINX_RUNNER_VALUE;
worker_rlimit_nofile 1024;
--- http_config
    map $uri $mapped { default "map-$TEST_NGINX_RUNNER_VALUE"; }
--- config
    location = /t { return 200 "$mapped $TEST_NGINX_RUNNER_VALUE\n"; }
--- response_body
map-from-env from-env



=== TEST 19: a block without --- config reuses the previous nginx
--- request
GET /t
--- response_body
map-from-env from-env



=== TEST 20: log_level section
--- log_level: warn
--- config
    location = /t { return 200; }
--- response_body
--- no_error_log
[debug]
[info]



=== TEST 21: must_die with a bad config; error_log sees the startup message
--- config
    location = /t { bogus_directive; }
--- must_die
--- error_log
unknown directive "bogus_directive"
--- no_error_log
[error]



=== TEST 22: must_die with an exit code, bad main_config
--- main_config
no_such_main_directive on;
--- config
--- must_die: 1
--- error_log eval
qr/\[emerg\].*no_such_main_directive/



=== TEST 23: init runs before the requests
--- config
--- init
open my $fh, '>', Test::Nginx::Util::html_dir() . '/init.txt' or die $!;
print $fh "from init\n";
close $fh;
--- request
GET /init.txt
--- response_body
from init



=== TEST 24: add_response_body_check with a JSON body
--- config
    location = /t {
        default_type application/json;
        return 200 '{"a":1,"b":["x","y"]}';
    }
--- json_body eval
{ a => 1, b => ["x", "y"] }



=== TEST 25: timeout in ms, wait, access_log
--- config
    location = /t { return 200 "ok\n"; }
--- timeout: 500ms
--- wait: 0.02
--- response_body
ok
--- access_log
"GET /t HTTP/1.1" 200
--- no_access_log
"GET /other



=== TEST 26: SKIP blocks never run
--- SKIP
--- config
    location = /t { return 500; }
--- response_body
never checked



=== TEST 27: http_config may set the proxy and client body temp paths itself
--- http_config
    proxy_temp_path $TEST_NGINX_SERVER_ROOT/my_proxy_temp;
    client_body_temp_path $TEST_NGINX_SERVER_ROOT/my_body_temp;
--- config
    location = /t { return 200 "ok\n"; }
--- response_body
ok
