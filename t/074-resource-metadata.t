# Protected-resource metadata (RFC 9728): zt_resource_metadata names the
# resource and its authorization servers; a location with
# zt_resource_metadata_document serves the JSON document (public, no
# token), and every challenge of the protected locations carries
# resource_metadata="<the document's URL>" so that clients (MCP, agents)
# find where to get a token.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::DPoP;

log_level('info');
no_shuffle();

our $Backend = <<'_EOC_';
    location = /backend {
        echo "backend saw: [$http_authorization]";
    }
_EOC_

our $Server = <<'_EOC_';
    zt_resource_metadata https://mcp.example.com/mcp
                         authorization_server=https://login.example.com
                         "scopes=mcp:tools mcp:admin" name=Example;

    location = /mcp {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }

    location = /.well-known/oauth-protected-resource/mcp {
        zt_resource_metadata_document;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    my $config = defined $block->config ? $block->config : $Server;
    $block->set_value('config', $config . $Backend);
});

our $URL = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';
our $Doc = '{"resource":"https://mcp.example.com/mcp",'
         . '"authorization_servers":["https://login.example.com"],'
         . '"scopes_supported":["mcp:tools","mcp:admin"],'
         . '"bearer_methods_supported":["header"],'
         . '"resource_name":"Example"}' . "\n";

run_tests();

__DATA__

=== TEST 1: the document, as RFC 9728 lays it out, at the well-known URL
--- request
GET /.well-known/oauth-protected-resource/mcp
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body eval
$::Doc
--- no_error_log
[warn]



=== TEST 2: HEAD gets the header and no body
--- request
HEAD /.well-known/oauth-protected-resource/mcp
--- error_code: 200
--- response_headers eval
"Content-Length: " . length($::Doc)
--- response_body



=== TEST 3: POST is not allowed
--- request
POST /.well-known/oauth-protected-resource/mcp
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body
{"error":{"type":"invalid_request_error","code":"method_not_allowed","message":"the resource metadata is read with GET"}}



=== TEST 4: the document is public even under server-wide zt_policy rules
--- config
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_policy allow scope=inference:invoke;
    zt_resource_metadata https://mcp.example.com/mcp
                         authorization_server=https://login.example.com;

    location = /mcp {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }

    location = /.well-known/oauth-protected-resource/mcp {
        zt_resource_metadata_document;
    }
--- request eval
["GET /.well-known/oauth-protected-resource/mcp", "GET /mcp"]
--- error_code eval
[200, 401]
--- response_body_like eval
['^\{"resource":"https://mcp.example.com/mcp",', 'missing_token']



=== TEST 5: no token: the challenge names the document
--- request
GET /mcp
--- error_code: 401
--- response_headers eval
qq{WWW-Authenticate: Bearer realm="zt", resource_metadata="$::URL"\n}



=== TEST 6: a bad token: the challenge has the error and names the document
--- request
GET /mcp
--- more_headers eval
"Authorization: Bearer " . ZT::Token::flip_sig(ZT::Token::mint())
--- error_code: 401
--- response_headers eval
qq{WWW-Authenticate: Bearer realm="zt", error="invalid_token", error_description="invalid signature", resource_metadata="$::URL"\n}



=== TEST 7: 403 insufficient_scope names the document too
--- request
GET /mcp
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint(claims => { scope => 'other' })
--- error_code: 403
--- response_headers eval
qq{WWW-Authenticate: Bearer realm="zt", error="insufficient_scope", resource_metadata="$::URL"\n}



=== TEST 8: a good token passes; nothing of the metadata reaches the backend
--- request
GET /mcp
--- more_headers eval
"Authorization: Bearer " . ZT::Token::mint()
--- error_code: 200
--- response_body
backend saw: []



=== TEST 9: DPoP optional: both challenges name the document, and the document lists the proof algorithms
--- config
    zt_resource_metadata https://mcp.example.com/mcp;
    zt_dpop optional;
    zt_algorithms ES256 PS256 HS256;

    location = /mcp {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }

    location = /.well-known/oauth-protected-resource/mcp {
        zt_resource_metadata_document;
    }
--- request eval
["GET /mcp", "GET /.well-known/oauth-protected-resource/mcp"]
--- error_code eval
[401, 200]
--- response_headers eval
[qq{WWW-Authenticate: Bearer realm="zt", resource_metadata="$::URL", DPoP realm="zt", algs="PS256 ES256", resource_metadata="$::URL"\n},
 ""]
--- response_body eval
[qq|{"error":{"type":"invalid_request_error","code":"missing_token","message":"a bearer token is required"}}\n|,
 qq|{"resource":"https://mcp.example.com/mcp","bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["PS256","ES256"],"dpop_bound_access_tokens_required":false}\n|]



=== TEST 10: DPoP required: the document says so, and an invalid proof's challenge names the document
--- config
    zt_resource_metadata https://mcp.example.com/mcp;
    zt_dpop required;

    location = /mcp {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }

    location = /.well-known/oauth-protected-resource/mcp {
        zt_resource_metadata_document;
    }
--- request eval
["GET /.well-known/oauth-protected-resource/mcp", "GET /mcp"]
--- more_headers eval
my $t = ZT::DPoP::token();
["", ZT::DPoP::headers($t, ZT::DPoP::proof(token => $t, htm => 'POST', htu => 'http://localhost/mcp'))]
--- error_code eval
[200, 401]
--- response_headers eval
["", qq{WWW-Authenticate: DPoP realm="zt", error="invalid_dpop_proof", error_description="DPoP proof htm does not match the request", algs="RS256 ES256", resource_metadata="$::URL"\n}]
--- response_body_like eval
['"dpop_bound_access_tokens_required":true\}$', 'invalid_dpop_proof']



=== TEST 11: a resource at the root: the well-known URL has no path after it
--- config
    zt_resource_metadata https://api.example.com/;

    location = /mcp {
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }

    location = /.well-known/oauth-protected-resource {
        zt_resource_metadata_document;
    }
--- request eval
["GET /mcp", "GET /.well-known/oauth-protected-resource"]
--- error_code eval
[401, 200]
--- response_headers eval
[qq{WWW-Authenticate: Bearer realm="zt", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"\n}, ""]
--- response_body_like eval
['missing_token', '^\{"resource":"https://api.example.com/",']



=== TEST 12: zt_resource_metadata off in a location: its challenges name no document
--- config
    zt_resource_metadata https://mcp.example.com/mcp;

    location = /mcp {
        zt_resource_metadata off;
        zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
        zt_policy allow scope=inference:invoke;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backend;
    }
--- request
GET /mcp
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="zt"



=== TEST 13: text is escaped as JSON in the document
--- config
    zt_resource_metadata https://mcp.example.com/mcp "name=Acme \"Models\" \\ ok";

    location = /.well-known/oauth-protected-resource/mcp {
        zt_resource_metadata_document;
    }
--- request
GET /.well-known/oauth-protected-resource/mcp
--- error_code: 200
--- response_body
{"resource":"https://mcp.example.com/mcp","bearer_methods_supported":["header"],"resource_name":"Acme \"Models\" \\ ok"}



=== TEST 14: a document location at another URL than the one the challenges give: a warning at start
--- config
    zt_resource_metadata https://mcp.example.com/mcp;

    location = /metadata {
        zt_resource_metadata_document;
    }
--- request
GET /metadata
--- error_code: 200
--- error_log
"zt_resource_metadata_document" of "https://mcp.example.com/mcp" is expected in "location = /.well-known/oauth-protected-resource/mcp"



=== TEST 15: a plain http resource is accepted with a warning
--- config
    zt_resource_metadata http://localhost/mcp;

    location = /.well-known/oauth-protected-resource/mcp {
        zt_resource_metadata_document;
    }
--- request
GET /.well-known/oauth-protected-resource/mcp
--- error_code: 200
--- error_log
"zt_resource_metadata": "http://localhost/mcp" is not https



=== TEST 16: a resource URL with a query is refused
--- config
    zt_resource_metadata https://mcp.example.com/mcp?x=1;
--- must_die
--- error_log
"zt_resource_metadata": "https://mcp.example.com/mcp?x=1" is not a resource URL



=== TEST 17: a resource URL with user info is refused
--- config
    zt_resource_metadata https://user@mcp.example.com/mcp;
--- must_die
--- error_log
is not a resource URL



=== TEST 18: a relative resource is refused
--- config
    zt_resource_metadata /mcp;
--- must_die
--- error_log
"zt_resource_metadata": "/mcp" is not a resource URL



=== TEST 19: an unknown parameter is refused
--- config
    zt_resource_metadata https://mcp.example.com/mcp scope=x;
--- must_die
--- error_log
"zt_resource_metadata": invalid parameter "scope=x"



=== TEST 20: a document without zt_resource_metadata is refused
--- config
    location = /.well-known/oauth-protected-resource {
        zt_resource_metadata_document;
    }
--- must_die
--- error_log
"zt_resource_metadata_document" needs "zt_resource_metadata"
