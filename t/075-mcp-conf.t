# conf.d/mcp.conf, the MCP server example, as shipped: discovery (RFC 9728
# metadata and the resource_metadata of every 401), the RFC 8707 audience,
# DPoP, and one decision per tool call (deny, approve, allow by scope,
# batches refused).  The MCP server behind it is an echo on another port.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use Cwd ();
use File::Basename ();
use IO::Socket::INET ();
use ZT::Token;
use ZT::Redis;
use ZT::DPoP;

log_level('info');
no_shuffle();

$ENV{TEST_NGINX_CONF_D} = Cwd::abs_path(File::Basename::dirname(__FILE__)
                                        . '/../conf.d');

$ENV{TEST_NGINX_MCP_PORT} = do {
    my $port;
    for (1 .. 100) {
        my $try = 20000 + int rand 20000;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $try, Listen => 1,
                                      Proto => 'tcp') or next;
        close $s;
        $port = $try;
        last;
    }
    $port;
};

our $HttpConfig = <<'_EOC_';
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt075: timeout=$TEST_NGINX_REDIS_TIMEOUT;

    upstream mcp_server {
        server 127.0.0.1:$TEST_NGINX_MCP_PORT;
    }

    server {
        listen 127.0.0.1:$TEST_NGINX_MCP_PORT;

        location / {
            echo_read_request_body;
            echo "mcp saw: $request_method [$http_authorization] $request_body";
        }
    }
_EOC_

our $Config = <<'_EOC_';
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    include $TEST_NGINX_CONF_D/mcp.conf;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig);
    $block->set_value('config', $Config);
});

our $AUD = 'https://mcp.example.com/mcp';
our $URL = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';

our $Tools = ZT::Token::mint(claims => { aud => $AUD, scope => 'mcp:tools' });
our $Admin = ZT::Token::mint(claims => { aud => $AUD, scope => 'mcp:admin' });
our $OtherAud = ZT::Token::mint(claims => { scope => 'mcp:tools' });
our $Bound = ZT::DPoP::token(claims => { aud => $AUD, scope => 'mcp:tools' });

sub call {
    my ($tool) = @_;
    return "POST /mcp\n"
         . qq|{"jsonrpc":"2.0","id":1,"method":"tools/call",|
         . qq|"params":{"name":"$tool","arguments":{}}}|;
}

ZT::Redis::start();
run_tests();

__DATA__

=== TEST 1: an allowed tool with mcp:tools reaches the MCP server, without the caller's token
--- request eval
::call('get_weather')
--- more_headers eval
"Authorization: Bearer $::Tools\nContent-Type: application/json"
--- error_code: 200
--- response_body_like: ^mcp saw: POST \[\] \{"jsonrpc":"2.0","id":1,"method":"tools/call","params":\{"name":"get_weather"



=== TEST 2: a shell tool is denied whatever the scope
--- request eval
::call('run_shell')
--- more_headers eval
"Authorization: Bearer $::Admin"
--- error_code: 403
--- response_headers eval
qq{WWW-Authenticate: Bearer realm="zt", error="insufficient_scope", resource_metadata="$::URL", DPoP realm="zt", algs="RS256 ES256", resource_metadata="$::URL"\n}



=== TEST 3: sending an email is parked for a person
--- request eval
::call('send_email')
--- more_headers eval
"Authorization: Bearer $::Tools"
--- error_code: 202
--- response_body_like: ^\{"approval":\{"id":"[^"]+","status":"pending"



=== TEST 4: a tool no rule names is denied to mcp:tools
--- request eval
::call('format_disk')
--- more_headers eval
"Authorization: Bearer $::Tools"
--- error_code: 403



=== TEST 5: mcp:admin may call any tool but the denied ones
--- request eval
::call('format_disk')
--- more_headers eval
"Authorization: Bearer $::Admin"
--- error_code: 200



=== TEST 6: a JSON-RPC batch is refused (it would carry a denied tool past the rules)
--- request
POST /mcp
[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_shell"}}]
--- more_headers eval
"Authorization: Bearer $::Admin"
--- error_code: 403



=== TEST 7: tools/list and the event stream (GET) pass with mcp:tools
--- request eval
["POST /mcp\n" . '{"jsonrpc":"2.0","id":2,"method":"tools/list"}', "GET /mcp"]
--- more_headers eval
["Authorization: Bearer $::Tools", "Authorization: Bearer $::Tools"]
--- error_code eval
[200, 200]



=== TEST 8: a token minted for another audience is refused, and the challenge says where to get one
--- request eval
::call('get_weather')
--- more_headers eval
"Authorization: Bearer $::OtherAud"
--- error_code: 401
--- response_headers eval
qq{WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="audience not accepted", resource_metadata="$::URL", DPoP realm="zt", algs="RS256 ES256", resource_metadata="$::URL"\n}



=== TEST 9: no token: both challenges name the metadata document
--- request eval
::call('get_weather')
--- error_code: 401
--- response_headers eval
qq{WWW-Authenticate: Bearer realm="zt", resource_metadata="$::URL", DPoP realm="zt", algs="RS256 ES256", resource_metadata="$::URL"\n}



=== TEST 10: the metadata document, public, with the CORS header
--- request
GET /.well-known/oauth-protected-resource/mcp
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: *
Content-Type: application/json
--- response_body
{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://login.example.com"],"scopes_supported":["mcp:tools","mcp:admin"],"bearer_methods_supported":["header"],"resource_name":"Example MCP server","dpop_signing_alg_values_supported":["RS256","ES256"],"dpop_bound_access_tokens_required":false}



=== TEST 11: a DPoP-bound token with its proof calls a tool
--- request eval
::call('get_weather')
--- more_headers eval
ZT::DPoP::headers($::Bound, ZT::DPoP::proof(token => $::Bound, htm => 'POST',
                                            htu => 'http://localhost/mcp'))
--- error_code: 200



=== TEST 12: the same DPoP-bound token without its proof (stolen) is refused
--- request eval
::call('get_weather')
--- more_headers eval
"Authorization: Bearer $::Bound"
--- error_code: 401
--- response_body_like: a DPoP-bound token must be sent with the DPoP scheme
