# The model's credential: read at start from zt_upstream_credential_file,
# sent upstream in place of the caller's token, which never leaves the
# gateway unless zt_forward_token is on.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $TOKEN = ZT::Token::mint();

run_tests();

__DATA__

=== TEST 1: the upstream sees the model credential and never the caller's token
--- user_files
>>> model.key
sk-model-secret-1234

--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_upstream_credential_file $TEST_NGINX_HTML_DIR/model.key;
        zt_policy allow scope=inference:invoke;
        proxy_set_header Authorization "Bearer $zt_upstream_credential";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend {
        echo "authorization: [$http_authorization]";
        echo "x-other: [$http_x_other]";
    }
--- more_headers eval
"Authorization: Bearer $main::TOKEN\nX-Other: kept"
--- request
GET /t
--- response_body
authorization: [Bearer sk-model-secret-1234]
x-other: [kept]

=== TEST 2: without a credential header, zt_forward_token off removes the token
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { echo "authorization: [$http_authorization]"; }
--- more_headers eval
"Authorization: Bearer $main::TOKEN"
--- request
GET /t
--- response_body
authorization: []

=== TEST 3: zt_forward_token on passes the caller's token through
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_forward_token on;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { echo "authorization: [$http_authorization]"; }
--- more_headers eval
"Authorization: Bearer $main::TOKEN"
--- request
GET /t
--- response_body eval
"authorization: [Bearer $main::TOKEN]\n"

=== TEST 4: a missing credential file stops nginx -t with a clear message
--- config
    location = /t {
        zt_upstream_credential_file /nonexistent/model.key;
        return 204;
    }
--- must_die
--- error_log
zt_upstream_credential_file "/nonexistent/model.key" cannot be opened

=== TEST 5: an empty credential file stops nginx -t
--- user_files
>>> empty.key

--- config
    location = /t {
        zt_upstream_credential_file $TEST_NGINX_HTML_DIR/empty.key;
        return 204;
    }
--- must_die
--- error_log eval
qr/zt_upstream_credential_file ".*empty.key" is empty/

=== TEST 6: a credential file larger than 16 KiB stops nginx -t
--- user_files eval
">>> big.key\n" . ("k" x 16385)
--- config
    location = /t {
        zt_upstream_credential_file $TEST_NGINX_HTML_DIR/big.key;
        return 204;
    }
--- must_die
--- error_log eval
qr/zt_upstream_credential_file ".*big.key" is too large \(\d+ bytes, at most 16384\)/

=== TEST 7: a directory is not a credential file
--- config
    location = /t {
        zt_upstream_credential_file $TEST_NGINX_HTML_DIR;
        return 204;
    }
--- must_die
--- error_log eval
qr/zt_upstream_credential_file ".*html" is not a regular file/

=== TEST 8: a credential with a control character inside stops nginx -t
--- user_files eval
">>> ctl.key\nsk-abc\x01def\n"
--- config
    location = /t {
        zt_upstream_credential_file $TEST_NGINX_HTML_DIR/ctl.key;
        return 204;
    }
--- must_die
--- error_log eval
qr/zt_upstream_credential_file ".*ctl.key" has a control character/
