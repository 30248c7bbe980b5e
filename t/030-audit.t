# $zt_audit: one JSON line per decided request, valid whatever the input,
# with the fields docs/reference.md lists; and the smaller $zt_* variables.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use JSON::PP ();
use Digest::SHA ();

no_shuffle();

our $TOKEN = ZT::Token::mint(claims => { groups => ['ops', 'ml'],
                                          email => "a\"b\@example.com" });
# plain runs of every length with each byte JSON escapes between them, and
# how a JSON reader reads the audit line's copy (invalid UTF-8 as U+FFFD)
my @between = ("\x7f", "\"", "\\", "\x00", "\x1f", "\xc3\xa9", "\xff", "\xe2\x82", "\t");
my @read    = ("\x7f", "\"", "\\", "\x00", "\x1f", "\x{e9}", "\x{fffd}",
               "\x{fffd}\x{fffd}", "\t");
our $MIXED = join '', map { ('abcdefghijklmnop' x ($_ % 3))
                            . substr('0123456789', 0, $_ % 9) . $between[$_ % 9] } 1 .. 60;
our $MIXED_READ = join '', map { ('abcdefghijklmnop' x ($_ % 3))
                                 . substr('0123456789', 0, $_ % 9) . $read[$_ % 9] } 1 .. 60;

our $BODY = qq({"model":"llama-8b","note":"quote \\" tab \t ctl \x01 bad \xff\xfe end"});

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'CONF') unless defined $block->http_config;
    log_format zt_audit escape=none '$zt_audit';
CONF
});

# the second request of a block reads the audit log written by the first
add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;
    my $expect = $block->audit or return;
    return unless $req_idx == 1;

    my @lines = grep { length } split /\n/, $body;
    is(scalar @lines, 1, $block->name . " - one audit line");

    my $line = eval { JSON::PP->new->utf8->decode($lines[0]) };
    ok($line, $block->name . " - audit line is JSON") or diag $lines[0];
    $line ||= {};

    for my $k (sort keys %$expect) {
        my $want = $expect->{$k};
        if (ref $want eq 'Regexp') {
            like($line->{$k} // '<null>', $want, $block->name . " - audit $k");
        } elsif (ref $want eq 'CODE') {
            ok($want->($line->{$k}), $block->name . " - audit $k")
                or diag(defined $line->{$k} ? "got: $line->{$k}" : 'got undef');
        } else {
            is_deeply($line->{$k}, $want, $block->name . " - audit $k");
        }
    }

    unlike($lines[0], qr/\Q$TOKEN\E/, $block->name . " - no token in audit");
});

run_tests();

__DATA__

=== TEST 1: an allowed request leaves one JSON line with who, what and which rule
--- config
    location = /v1/models {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_issuer https://issuer.zt.test;
        zt_policy deny scope=never;
        zt_policy allow scope=inference:invoke;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { echo "model answer"; }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["GET /v1/models?x=1", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", ""]
--- error_code eval
[200, 200]
--- response_body_like eval
["model answer", ".*"]
--- audit eval
{
    sub => "alice", iss => "https://issuer.zt.test",
    scopes => ["inference:invoke"], groups => ["ops", "ml"],
    method => "GET", uri => "/v1/models?x=1", decision => "allow",
    status => 200, approval_id => undef, masked => 0,
    client => "127.0.0.1",
    rule => sub { defined $_[0] && $_[0] =~ /^\d+$/ && $_[0] > 0 },
    token_fp => qr/^[0-9a-f]{16}$/,
    request_id => qr/^[0-9a-f]{32}$/,
    ts => qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
    body_sha256 => undef,
}

=== TEST 2: the fingerprint is the first 16 hex digits of the token's SHA-256
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["GET /t", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", ""]
--- error_code eval
[204, 200]
--- response_body_like eval
["", ".*"]
--- audit eval
{ token_fp => substr(Digest::SHA::sha256_hex($main::TOKEN), 0, 16) }

=== TEST 3: a request no rule allows is audited as deny with status 403 and no rule
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=admin;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["POST /t\nhello", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", ""]
--- error_code eval
[403, 200]
--- response_body_like eval
["insufficient_scope", ".*"]
--- audit eval
{ decision => "deny", status => 403, rule => undef, sub => "alice",
  method => "POST" }

=== TEST 4: a bad token is audited as deny with 401, no subject, and its fingerprint
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["GET /t", "GET /audit"]
--- more_headers eval
["Authorization: Bearer ${main::TOKEN}x", ""]
--- error_code eval
[401, 200]
--- response_body_like eval
["invalid_token", ".*"]
--- audit eval
{ decision => "deny", status => 401, sub => undef, scopes => [],
  token_fp => substr(Digest::SHA::sha256_hex("${main::TOKEN}x"), 0, 16) }

=== TEST 5: zt_audit_body puts the body in the line, escaped, with its SHA-256
--- config
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        zt_audit_body on;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
    location = /backend { echo_read_request_body; echo_request_body; }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["POST /t\n$main::BODY", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN\nContent-Type: text/plain", ""]
--- error_code eval
[200, 200]
--- response_body_like eval
["^\Q$main::BODY\E\$", ".*"]
--- audit eval
{
    body_sha256 => Digest::SHA::sha256_hex($main::BODY),
    body_truncated => JSON::PP::false,
    body => sub {
        my $b = shift;
        # invalid UTF-8 becomes U+FFFD, everything else is kept
        (my $want = $main::BODY) =~ s/[\xff\xfe]/\x{fffd}/g;
        defined $b && $b eq $want;
    },
}

=== TEST 6: zt_audit_body_max cuts the audited body and says so
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        zt_audit_body on;
        zt_audit_body_max 8;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["POST /t\n0123456789abcdef", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", ""]
--- error_code eval
[204, 200]
--- response_body_like eval
["", ".*"]
--- audit eval
{ body => "01234567", body_truncated => JSON::PP::true,
  body_sha256 => Digest::SHA::sha256_hex("0123456789abcdef") }

=== TEST 7: claims with quotes, newlines and control characters stay valid JSON
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["GET /t", "GET /audit"]
--- more_headers eval
["Authorization: Bearer " . ZT::Token::mint(claims => {
    sub => "eve\"},\n{\"x\":\x01\\", groups => "g\x{e9}" }), ""]
--- error_code eval
[204, 200]
--- response_body_like eval
["", ".*"]
--- audit eval
{ sub => "eve\"},\n{\"x\":\x01\\", groups => ["g\x{e9}"] }

=== TEST 8: the $zt_* variables carry the caller's identity and the decision
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        add_header X-Sub $zt_sub always;
        add_header X-Scopes $zt_scopes always;
        add_header X-Groups $zt_groups always;
        add_header X-Email $zt_claim_email always;
        add_header X-Aud $zt_claim_aud always;
        add_header X-Decision $zt_decision always;
        add_header X-Masked $zt_masked always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
--- more_headers eval
"Authorization: Bearer $main::TOKEN"
--- request
GET /t
--- error_code: 204
--- response_headers
X-Sub: alice
X-Scopes: inference:invoke
X-Groups: ops ml
X-Email: a"b@example.com
X-Aud: zt-gateway
X-Decision: allow
X-Masked: 0

=== TEST 9: requests the module does not decide leave no audit line
--- config
    location = /t {
        access_log logs/audit.log zt_audit if=$zt_audit;
        return 204;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["GET /t", "GET /audit"]
--- error_code eval
[204, 200]
--- response_body eval
["", ""]

=== TEST 10: a denied token never reaches the error log at info level
--- log_level: info
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=admin;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::TOKEN"
--- error_code: 403
--- error_log
zt: denied "/t" for sub "alice": no rule allows it
--- no_error_log eval
[qr/\Q$main::TOKEN\E/, qr/eyJ/]

=== TEST 11: a rejected token never reaches the error log at info level
--- log_level: info
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=admin;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer ${main::TOKEN}x"
--- error_code: 401
--- error_log
zt: invalid token: malformed token: bad base64url, fp=
--- no_error_log eval
[qr/\Q$main::TOKEN\E/, qr/eyJ/]

=== TEST 12: the audit's request_id is $request_id when the line asks first
--- http_config
    log_format zt_rid escape=none '$zt_audit|$request_id';
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        access_log logs/audit.log zt_rid;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["GET /t", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", ""]
--- error_code eval
[204, 200]
--- response_body_like eval
["", qr/^\{[^\n]*"request_id":"([0-9a-f]{32})"[^\n]*\}\|\1\n\z/]

=== TEST 13: the audit's request_id is $request_id when nginx made it first
--- http_config
    log_format zt_rid escape=none '$request_id|$upstream_http_x_rid|$zt_audit';
--- config
    location = /ok { add_header X-Rid $http_x_request_id; return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_set_header X-Request-Id $request_id;
        access_log logs/audit.log zt_rid;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["GET /t", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", ""]
--- error_code eval
[204, 200]
--- response_body_like eval
["", qr/^([0-9a-f]{32})\|\1\|\{[^\n]*"request_id":"\1"[^\n]*\}\n\z/]

=== TEST 14: every request gets its own request_id
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", "Authorization: Bearer $main::TOKEN",
 "Authorization: Bearer $main::TOKEN", ""]
--- error_code eval
[204, 204, 204, 200]
--- response_body_like eval
["", "", "",
 qr/\A(?:[^\n]*"request_id":"[0-9a-f]{32}"[^\n]*\n){3}\z/]
--- response_body_unlike eval
["^x", "^x", "^x",
 qr/"request_id":"([0-9a-f]{32})".*"request_id":"\1"/s]

=== TEST 15: a line longer than the writer's first guess is whole and valid JSON
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        zt_audit_body on;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["POST /t\n" . ("\x01\"" x 600) . "end", "GET /audit"]
--- more_headers eval
["Authorization: Bearer " . ZT::Token::mint(claims => {
    sub => ("\x02" x 300) . "s" }), ""]
--- error_code eval
[204, 200]
--- response_body_like eval
["", ".*"]
--- audit eval
{ body => ("\x01\"" x 600) . "end", body_truncated => JSON::PP::false,
  sub => ("\x02" x 300) . "s", decision => "allow",
  token_fp => qr/^[0-9a-f]{16}$/ }

=== TEST 16: long plain runs with every kind of byte JSON escapes between them stay whole and valid
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        zt_audit_body on;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["POST /t\n$main::MIXED", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", ""]
--- error_code eval
[204, 200]
--- response_body_like eval
["", qr/\\u007f/]
--- response_body_unlike eval
["^x", qr/[\x00-\x09\x0b-\x1f\x7f]/]
--- audit eval
{ body => sub {
    defined $_[0] && $_[0] eq $main::MIXED_READ;
  },
  body_truncated => JSON::PP::false }

=== TEST 17: the same runs in a line over the writer's guess (counted, then written) stay whole
--- config
    location = /ok { return 204; }
    location = /t {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        zt_audit_body on;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ok;
    }
    location = /audit { default_type text/plain; alias logs/audit.log; }
--- request eval
["POST /t\n$main::MIXED" . ("\x00" x 600), "GET /audit"]
--- more_headers eval
["Authorization: Bearer $main::TOKEN", ""]
--- error_code eval
[204, 200]
--- response_body_like eval
["", qr/\\u007f/]
--- response_body_unlike eval
["^x", qr/[\x00-\x09\x0b-\x1f\x7f]/]
--- audit eval
{ body => sub { defined $_[0] && $_[0] eq $main::MIXED_READ . ("\x00" x 600) },
  body_truncated => JSON::PP::false }
