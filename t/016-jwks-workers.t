# Remote key sets with two workers: one fetch serves both (the set is in
# shared memory), a fetch is never made twice at once, and concurrent
# requests that need the same refetch all wait for the one fetch.
#
# Everything runs in a second server that listens with reuseport (on
# TEST_NGINX_PORT + 1), so that the kernel spreads connections over both
# workers; the test server proxies to it.  /storm sends 8 requests at once
# through it; the identity provider (this nginx) answers after 0.5 s, so
# that they overlap.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;

$ENV{TEST_NGINX_SPREAD_PORT} ||= ($ENV{TEST_NGINX_PORT} || 1984) + 1;

workers(2);
master_on();
log_level('info');
no_shuffle();
no_root_location();
check_accum_error_log();

our $IdP = <<'_EOC_';
    location = /_zt_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SPREAD_PORT/idp/jwks.json;
    }
    location /idp/ {
        access_log logs/idp.log idp;
        echo_sleep 0.5;
        echo_location /idp-file$uri;
    }
    location /idp-file/ { internal; alias html/; }
    location /admin/ {
        alias html/idp/;
        dav_methods PUT;
        access_log off;
    }
    location = /idp-log { default_type text/plain; alias logs/idp.log; }
    location = /errlog { default_type text/plain; alias logs/error.log; }
    location = /sleep2 { echo_sleep 2.1; echo slept; }
    location = /storm {
        echo_location_async /p/1;
        echo_location_async /p/2;
        echo_location_async /p/3;
        echo_location_async /p/4;
        echo_location_async /p/5;
        echo_location_async /p/6;
        echo_location_async /p/7;
        echo_location_async /p/8;
    }
    location /p/ {
        rewrite ^ /t break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SPREAD_PORT;
        proxy_set_header Authorization $storm_auth;
    }
    location = /t {
        zt_jwks_request /_zt_jwks min_refetch=2s;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
        access_log logs/gateway.log pid;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    my $http = <<'_EOC_';
    log_format idp '$request_method $uri';
    log_format pid '$pid $status';
    server {
        listen 127.0.0.1:$TEST_NGINX_SPREAD_PORT reuseport;
        server_name spread;
_EOC_
    $block->set_value('http_config', $http . ($block->config // '') . $IdP . "    }\n");

    $block->set_value('config', <<'_EOC_');
    location / {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SPREAD_PORT;
        proxy_set_header Host spread;
    }
_EOC_

    $block->set_value('user_files', ">>> idp/jwks.json\n" . ZT::Token::jwks('rsa1') . "\n")
        unless defined $block->user_files;
});

sub bearer { "Authorization: Bearer " . ZT::Token::mint(@_) }

sub fetches {
    my $n = shift;
    return qr/\A(?:GET \/idp\/jwks\.json\n){$n}\z/;
}

run_tests();

__DATA__

=== TEST 1: one fetch serves both workers, each builds its keys once
--- config eval
'set $storm_auth "Bearer ' . ZT::Token::mint(key => 'rsa1') . '";'
--- request eval
["GET /t", "GET /storm", "GET /t", "GET /t", "GET /idp-log", "GET /errlog"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", main::bearer(key => 'rsa1'), main::bearer(key => 'rsa1'), "", ""]
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- response_body_like eval
["^ok alice\$", "\\A(?:ok alice\n){8}\\z", "^ok alice\$", "^ok alice\$", main::fetches(1),
 '\A(?:(?!this process uses version)[\s\S])*(?:this process uses version 1 \(1 key\(s\)\)\n(?:(?!this process uses version)[\s\S])*){1,2}\z']
--- timeout: 10



=== TEST 2: a new kid arriving at both workers at once: every request waits for one fetch, then passes
--- config eval
'set $storm_auth "Bearer ' . ZT::Token::mint(key => 'rsa2') . '";'
--- request eval
["GET /t", "PUT /admin/jwks.json\n" . ZT::Token::jwks('rsa1', 'rsa2'), "GET /sleep2", "GET /storm", "GET /idp-log"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", "", "", ""]
--- error_code eval
[200, 204, 200, 200, 200]
--- response_body_like eval
["^ok alice\$", "^\$", "^slept\$", "\\A(?:ok alice\n){8}\\z", main::fetches(2)]
--- timeout: 10



=== TEST 3: an unknown-kid storm on both workers makes one fetch, and all are refused
--- config eval
'set $storm_auth "Bearer ' . ZT::Token::mint(key => 'rsa1', kid => 'forged') . '";'
--- request eval
["GET /t", "GET /sleep2", "GET /storm", "GET /storm", "GET /idp-log"]
--- more_headers eval
[main::bearer(key => 'rsa1'), "", "", "", ""]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body_like eval
["^ok alice\$", "^slept\$", '\A(?:\{"error":\{[^\n]*"message":"unknown kid"\}\}\n){8}\z',
 '\A(?:\{"error":\{[^\n]*"message":"unknown kid"\}\}\n){8}\z', main::fetches(2)]
--- timeout: 10



=== TEST 4: the provider down and no set yet: both workers answer 503 and only one fetch is tried
--- config
    set $storm_auth "";
    location = /_zt_down {
        internal;
        proxy_pass http://unix:/nonexistent/zt-idp.sock:/jwks;
    }
    location = /down {
        zt_jwks_request /_zt_down;
        zt_policy allow scope=inference:invoke;
        echo "ok $zt_sub";
    }
    location /q/ {
        rewrite ^ /down break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SPREAD_PORT;
    }
    location = /many {
        echo_location_async /q/1;
        echo_location_async /q/2;
        echo_location_async /q/3;
        echo_location_async /q/4;
    }
--- request eval
["GET /down", "GET /many", "GET /down"]
--- more_headers eval
[main::bearer(key => 'rsa1'), main::bearer(key => 'rsa1'), main::bearer(key => 'rsa1')]
--- error_code eval
[503, 200, 503]
--- response_body_like eval
['"code":"keys_unavailable"', '\A(?:\{"error":\{[^\n]*"code":"keys_unavailable"[^\n]*\}\}\n){4}\z',
 '"code":"keys_unavailable"']
--- grep_error_log eval
qr/zt: fetching the key set of "\/_zt_down" \(first use\)/
--- grep_error_log_out
zt: fetching the key set of "/_zt_down" (first use)
