# Usage limits with the shm store: the estimate before the request (the
# README's formula, computed here independently), the reservation against
# every window, the x-ratelimit-* headers, 429 in OpenAI's shape, the
# settlement from the answer's usage (or the reservation when the answer
# has none, failed, or only looks like it has one), the audit fields and
# the variables.  The budget left is read from x-ratelimit-remaining-tokens
# after each request.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Usage;
use JSON::PP ();

no_shuffle();
repeat_each(1);

our $Alice = ZT::Token::mint(
    claims => { sub => 'alice', scope => 'inference:invoke' }, exp_in => 3600);
our $Bob = ZT::Token::mint(
    claims => { sub => 'bob', scope => 'inference:invoke' }, exp_in => 3600);
our $NoSub = ZT::Token::mint(
    claims => { sub => undef, scope => 'inference:invoke' }, exp_in => 3600);

# strings: "m1" 2 + "user" 4 + "hello world!" 12 = 18 bytes: 5 tokens;
# max_tokens 10: the request costs 15
our $B15 = '{"model":"m1","messages":[{"role":"user","content":"hello world!"}],"max_tokens":10}';

# the stub model's answers
our %Answer = (
    ok      => ZT::Usage::answer(in => 12, out => 5),
    exact   => ZT::Usage::answer(in => 5, out => 10),
    nousage => ZT::Usage::answer(usage => undef),
    # the model's text carries a usage object; the answer itself none
    fake    => ZT::Usage::answer(usage => undef,
                   content => '{"usage":{"prompt_tokens":1,"completion_tokens":1}}'),
    # both: only the real one counts
    both    => ZT::Usage::answer(in => 12, out => 5,
                   content => '"usage":{"prompt_tokens":1,"completion_tokens":1}'),
    # a usage object that is not the answer's: inside a choice
    nested  => '{"choices":[{"index":0,"message":{"role":"assistant","content":"x"},"usage":{"prompt_tokens":1,"completion_tokens":1}}]}',
    # Anthropic's Messages API, with prompt caching
    anthropic => '{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"ok"}],"usage":{"input_tokens":7,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"output_tokens":4}}',
    # embeddings: no completion tokens, a total
    embeddings => '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,0.25]}],"model":"e","usage":{"prompt_tokens":8,"total_tokens":8}}',
    # a total alone says nothing of the input
    totalonly => '{"usage":{"total_tokens":3}}',
    # the Responses API
    responses => '{"id":"resp_1","object":"response","output":[],"usage":{"input_tokens":9,"output_tokens":6,"total_tokens":15}}',
    # not counts
    strings => '{"usage":{"prompt_tokens":"12","completion_tokens":5}}',
    fraction => '{"usage":{"prompt_tokens":12.0,"completion_tokens":5}}',
    negative => '{"usage":{"prompt_tokens":-12,"completion_tokens":5}}',
    invalid => '{"usage":{"prompt_tokens":12,"completion_tokens":5}',
);

# the gateway: /v1/chat limited as given, the stub model at /model/NAME
# (X-Model picks it), the audit log at /audit
sub gateway {
    my ($limit, %a) = @_;
    my $models = join '', map {
        "    location = /model/$_ { default_type application/json; "
        . "return 200 " . ZT::Usage::nginx_quote($Answer{$_}) . "; }\n"
    } sort keys %Answer;
    my $extra = $a{extra} // '';
    my $policy = $a{policy} // 'zt_policy allow scope=inference:invoke;';
    return <<"_EOC_";
    zt_jwks_file \$TEST_NGINX_DATA_DIR/jwks.json;

    location = /v1/chat {
        $policy
        $limit
        access_log logs/audit.log zt_audit;
        access_log logs/otel.log zt_otel;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/model/\$http_x_model;
    }

$models
    location = /model/error {
        default_type application/json;
        return 500 '{"error":{"message":"boom"},"usage":{"prompt_tokens":1,"completion_tokens":1}}';
    }

    location = /model/ratelimited {
        default_type application/json;
        add_header x-ratelimit-limit-tokens 999999 always;
        add_header x-ratelimit-remaining-tokens 999999 always;
        add_header x-ratelimit-reset-tokens 1ms always;
        add_header x-ratelimit-limit-requests 77 always;
        return 200 '{"usage":{"prompt_tokens":12,"completion_tokens":5}}';
    }

    location = /model/encoding {
        default_type application/json;
        return 200 '{"accept_encoding":"\$http_accept_encoding","usage":{"prompt_tokens":12,"completion_tokens":5}}';
    }

    location = /model/gzipped {
        default_type application/json;
        add_header Content-Encoding gzip;
        return 200 '{"usage":{"prompt_tokens":12,"completion_tokens":5}}';
    }

    location = /audit { default_type text/plain; alias logs/audit.log; }
    location = /otel { default_type text/plain; alias logs/otel.log; }
$extra
_EOC_
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    log_format zt_audit escape=none '$zt_audit';
    log_format zt_otel escape=json '{"gen_ai.request.model":"$zt_model","gen_ai.usage.input_tokens":"$zt_usage_input_tokens","gen_ai.usage.output_tokens":"$zt_usage_output_tokens","status":"$status"}';
_EOC_
});

# --- audit_usage: [index of the /audit request, {line n's fields}]: the
# audit line of the n-th request of the block, its "usage" and "model"
add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;
    my $spec = $block->audit_usage or return;
    my ($at, $want) = @$spec;
    return unless $req_idx == $at;
    my @lines = grep { length } split /\n/, $body;
    for my $n (sort keys %$want) {
        my $line = eval { JSON::PP->new->decode($lines[$n]) };
        ok($line, $block->name . " - audit line $n is JSON")
            or diag($lines[$n] // 'no such line');
        is_deeply({ map { $_ => $line->{$_} } keys %{ $want->{$n} } },
                  $want->{$n}, $block->name . " - audit line $n")
            or diag($lines[$n]);
    }
});

# --- otel: [index of the /otel request, [line fields]]
add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;
    my $spec = $block->otel or return;
    my ($at, $want) = @$spec;
    return unless $req_idx == $at;
    my @got = map { JSON::PP->new->decode($_) } grep { length } split /\n/, $body;
    is_deeply(\@got, $want, $block->name . " - OpenTelemetry log lines");
});

run_tests();

__DATA__

=== TEST 1: the estimate is taken before the request: strings/4 plus max_tokens, remaining after the reservation
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-Model: ok\nContent-Type: application/json"
--- error_code: 200
--- response_headers_like
x-ratelimit-limit-tokens: 100
x-ratelimit-remaining-tokens: 85
x-ratelimit-reset-tokens: (\d+h)?(\d+m)?\d+(\.\d+)?s
--- response_body eval
$::Answer{ok}



=== TEST 2: the settlement charges the answer's usage (12 + 5): the next request sees 100 - 17 - 15
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: ok",
 "Authorization: Bearer $::Alice\nX-Model: ok",
 "Authorization: Bearer $::Bob\nX-Model: ok"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["x-ratelimit-remaining-tokens: 85", "x-ratelimit-remaining-tokens: 68",
 "x-ratelimit-remaining-tokens: 85"]



=== TEST 2b: a refund: the default allowance reserved (5 + 1024), the answer's 17 charged
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=2000/d;')
--- request eval
my $b = '{"model":"m1","messages":[{"role":"user","content":"hello world!"}]}';
["POST /v1/chat\n$b", "POST /v1/chat\n$b"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: ok", "Authorization: Bearer $::Alice\nX-Model: ok"]
--- response_headers eval
["x-ratelimit-remaining-tokens: 971", "x-ratelimit-remaining-tokens: 954"]



=== TEST 3: the estimate follows the README's formula for bodies of every shape
--- config eval
main::gateway('zt_usage_limit zone=u key=$http_x_key tokens=1000000/d max_tokens_default=300;')
--- request eval
my @b = (
    # UTF-8 bytes, JSON escapes counted unescaped, keys not counted
    '{"model":"m","messages":[{"role":"user","content":"h\u00e9llo \u4e16\u754c"}],"max_tokens":7}',
    '{"model":"m","messages":[{"role":"user","content":"héllo 世界 and more"}]}',
    # n and best_of multiply; the largest of the three limits counts
    '{"model":"m","prompt":"abc","n":3,"max_tokens":10}',
    '{"model":"m","prompt":"abc","n":2,"best_of":4,"max_tokens":10}',
    '{"model":"m","input":"abc","max_completion_tokens":20,"max_tokens":10,"max_output_tokens":5}',
    '{"model":"m","input":"abc","max_output_tokens":33}',
    # null is absent; numbers and booleans are not strings
    '{"model":"m","max_tokens":null,"n":null,"temperature":0.5,"stream":true,"x":"12345678"}',
    # not JSON at all: its bytes
    'plain text, not JSON, some bytes',
    # a JSON array
    '["abcd","efgh",{"k":"ijkl"}]',
);
[ map { "POST /v1/chat\n$_" } @b ]
--- more_headers eval
my @k = map { "Authorization: Bearer $::Alice\nX-Model: ok\nX-Key: k$_" } 1 .. 9;
\@k
--- response_headers eval
my @b = (
    '{"model":"m","messages":[{"role":"user","content":"h\u00e9llo \u4e16\u754c"}],"max_tokens":7}',
    '{"model":"m","messages":[{"role":"user","content":"héllo 世界 and more"}]}',
    '{"model":"m","prompt":"abc","n":3,"max_tokens":10}',
    '{"model":"m","prompt":"abc","n":2,"best_of":4,"max_tokens":10}',
    '{"model":"m","input":"abc","max_completion_tokens":20,"max_tokens":10,"max_output_tokens":5}',
    '{"model":"m","input":"abc","max_output_tokens":33}',
    '{"model":"m","max_tokens":null,"n":null,"temperature":0.5,"stream":true,"x":"12345678"}',
    'plain text, not JSON, some bytes',
    '["abcd","efgh",{"k":"ijkl"}]',
);
[ map { my $b = $_; utf8::decode($b); "x-ratelimit-remaining-tokens: " . (1000000 - ZT::Usage::estimate($b, 300)) } @b ]



=== TEST 4: the formula by hand: 5 + 7, 3 + 300 * 1 (default), 1 + 10 * 3, 1 + 10 * 4, 1 + 20, 5 + 300
--- config eval
main::gateway('zt_usage_limit zone=u key=$http_x_key tokens=1000/d max_tokens_default=300;')
--- request eval
[
    "POST /v1/chat\n" . '{"model":"m","messages":[{"role":"user","content":"h\u00e9llo \u4e16\u754c"}],"max_tokens":7}',
    "POST /v1/chat\n" . '{"content":"a","more":"bcdefghi"}',
    "POST /v1/chat\n" . '{"prompt":"abc","n":3,"max_tokens":10}',
    "POST /v1/chat\n" . '{"prompt":"abc","n":2,"best_of":4,"max_tokens":10}',
    "POST /v1/chat\n" . '{"input":"abc","max_completion_tokens":20,"max_tokens":10,"max_output_tokens":5}',
    "POST /v1/chat\n" . 'plain text, not JSON',
]
--- more_headers eval
[ map { "Authorization: Bearer $::Alice\nX-Model: ok\nX-Key: h$_" } 1 .. 6 ]
--- response_headers eval
[ map { "x-ratelimit-remaining-tokens: " . (1000 - $_) } 12, 303, 31, 41, 21, 305 ]



=== TEST 5: over budget: 429 with Retry-After, retry-after-ms, the x-ratelimit headers and OpenAI's error
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=30/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: ok", "Authorization: Bearer $::Alice\nX-Model: ok"]
--- error_code eval
[200, 429]
--- response_headers_like eval
["x-ratelimit-remaining-tokens: 15",
 "x-ratelimit-limit-tokens: 30
x-ratelimit-remaining-tokens: 13
x-ratelimit-reset-tokens: (\\d+h)?(\\d+m)?\\d+(\\.\\d{1,3})?s
Retry-After: \\d+
retry-after-ms: \\d+
Content-Type: application/json
Cache-Control: no-store"]
--- response_body_like eval
[".*", qr/^\{"error":\{"type":"tokens","code":"rate_limit_exceeded","message":"Rate limit reached for tokens per day: Limit 30, Used 17, Requested 15\. Please try again in (\d+h)?(\d+m)?\d+(\.\d{1,3})?s\."\}\}$/]



=== TEST 6: a refused request holds nothing: Bob still has his whole budget, Alice's is unchanged
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=30/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15",
 "POST /v1/chat\n" . '{"max_tokens":1}', "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: ok", "Authorization: Bearer $::Alice\nX-Model: ok",
 "Authorization: Bearer $::Alice\nX-Model: ok", "Authorization: Bearer $::Alice\nX-Model: exact",
 "Authorization: Bearer $::Bob\nX-Model: ok"]
--- error_code eval
[200, 429, 429, 200, 200]
--- response_headers eval
["x-ratelimit-remaining-tokens: 15", "x-ratelimit-remaining-tokens: 13",
 "x-ratelimit-remaining-tokens: 13", "x-ratelimit-remaining-tokens: 12",
 "x-ratelimit-remaining-tokens: 15"]



=== TEST 7: a request larger than a window can ever hold: 429, told not to retry, no Retry-After
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=14/d;')
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-Model: ok"
--- error_code: 429
--- response_headers
x-should-retry: false
x-ratelimit-limit-tokens: 14
x-ratelimit-remaining-tokens: 14
!Retry-After
!retry-after-ms
--- response_body eval
'{"error":{"type":"tokens","code":"rate_limit_exceeded","message":"Request too large for tokens per day: Limit 14, Requested 15. Reduce the prompt or max_tokens."}}' . "\n"



=== TEST 8: every window must have room: the minute window refuses what the day window would take
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=1000/d tokens=20/h;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: ok", "Authorization: Bearer $::Alice\nX-Model: ok"]
--- error_code eval
[200, 429]
--- response_headers eval
["x-ratelimit-limit-tokens: 20\nx-ratelimit-remaining-tokens: 5",
 "x-ratelimit-limit-tokens: 20\nx-ratelimit-remaining-tokens: 3"]
--- response_body_like eval
[".*", qr/tokens per hour: Limit 20, Used 17, Requested 15/]



=== TEST 9: the headers show the window with the fewest tokens left
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=50/d tokens=400/h;')
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-Model: ok"
--- response_headers
x-ratelimit-limit-tokens: 50
x-ratelimit-remaining-tokens: 35



=== TEST 10: several limits (per caller and per team, two zones): all must have room, a refusal by one gives back what the other reserved
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;
        zt_usage_limit zone=team:64k key=team-a tokens=30/d;', extra => '
    location = /v1/user {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=u key=$zt_sub tokens=100/d;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
    }')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15",
 "POST /v1/chat\n" . '{"max_tokens":5}', "POST /v1/user\n$::B15", "POST /v1/user\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: ok", "Authorization: Bearer $::Bob\nX-Model: ok",
 "Authorization: Bearer $::Alice\nX-Model: ok", "Authorization: Bearer $::Alice\nX-Model: exact",
 "Authorization: Bearer $::Bob", "Authorization: Bearer $::Alice"]
--- error_code eval
[200, 429, 429, 200, 200, 200]
--- response_headers eval
["x-ratelimit-limit-tokens: 30\nx-ratelimit-remaining-tokens: 15",
 "x-ratelimit-limit-tokens: 30\nx-ratelimit-remaining-tokens: 13",
 "x-ratelimit-limit-tokens: 30\nx-ratelimit-remaining-tokens: 13",
 "x-ratelimit-limit-tokens: 30\nx-ratelimit-remaining-tokens: 8",
 "x-ratelimit-limit-tokens: 100\nx-ratelimit-remaining-tokens: 85",
 "x-ratelimit-limit-tokens: 100\nx-ratelimit-remaining-tokens: 53"]



=== TEST 11: no usage in the answer: the reservation is charged, and the audit says so
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: nousage", "Authorization: Bearer $::Alice\nX-Model: ok", ""]
--- response_headers eval
["x-ratelimit-remaining-tokens: 85", "x-ratelimit-remaining-tokens: 70", ""]
--- audit_usage eval
[2, { 0 => { model => "m1", usage => { input_tokens => undef, output_tokens => undef, reserved => 15, charged => 15, from_answer => JSON::PP::false } },
      1 => { model => "m1", usage => { input_tokens => 12, output_tokens => 5, reserved => 15, charged => 17, from_answer => JSON::PP::true } } }]



=== TEST 11b: ... and the error log says why
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-Model: nousage"
--- error_code: 200
--- error_log
zt: usage: no usage in the answer (none reported), the reservation of 15 tokens is charged



=== TEST 12: a usage object in the model's text is not the answer's usage
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: fake", "Authorization: Bearer $::Alice\nX-Model: nested",
 "Authorization: Bearer $::Alice\nX-Model: both", "Authorization: Bearer $::Alice\nX-Model: ok"]
--- response_headers eval
["x-ratelimit-remaining-tokens: 85", "x-ratelimit-remaining-tokens: 70",
 "x-ratelimit-remaining-tokens: 55", "x-ratelimit-remaining-tokens: 38"]



=== TEST 13: counts that are not plain integers, and an answer that is not JSON, are not taken
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: strings", "Authorization: Bearer $::Alice\nX-Model: fraction",
 "Authorization: Bearer $::Alice\nX-Model: negative", "Authorization: Bearer $::Alice\nX-Model: invalid",
 "Authorization: Bearer $::Alice\nX-Model: ok"]
--- response_headers eval
["x-ratelimit-remaining-tokens: 85", "x-ratelimit-remaining-tokens: 70",
 "x-ratelimit-remaining-tokens: 55", "x-ratelimit-remaining-tokens: 40",
 "x-ratelimit-remaining-tokens: 25"]



=== TEST 14: Anthropic's usage (cache tokens are input) and the Responses API's
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: anthropic", "Authorization: Bearer $::Alice\nX-Model: responses",
 "Authorization: Bearer $::Alice\nX-Model: ok", ""]
--- response_headers eval
["x-ratelimit-remaining-tokens: 85", "x-ratelimit-remaining-tokens: 69",
 "x-ratelimit-remaining-tokens: 54", ""]
--- audit_usage eval
[3, { 0 => { usage => { input_tokens => 12, output_tokens => 4, reserved => 15, charged => 16, from_answer => JSON::PP::true } },
      1 => { usage => { input_tokens => 9, output_tokens => 6, reserved => 15, charged => 15, from_answer => JSON::PP::true } } }]



=== TEST 15: an upstream error is charged the reservation, whatever usage its body claims
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: error", "Authorization: Bearer $::Alice\nX-Model: ok", ""]
--- error_code eval
[500, 200, 200]
--- response_headers eval
["x-ratelimit-remaining-tokens: 85", "x-ratelimit-remaining-tokens: 70", ""]
--- audit_usage eval
[2, { 0 => { usage => { input_tokens => undef, output_tokens => undef, reserved => 15, charged => 15, from_answer => JSON::PP::false } } }]



=== TEST 15b: ... and the error log says why
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-Model: error"
--- error_code: 500
--- error_log
no usage in the answer (not a 2xx answer), the reservation of 15 tokens is charged



=== TEST 16: an upstream that cannot be reached: 502, the reservation charged
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;', extra => '
    location = /v1/down {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=u key=$zt_sub tokens=100/d;
        proxy_pass http://127.0.0.1:1/;
    }')
--- request eval
["POST /v1/down\n$::B15", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice", "Authorization: Bearer $::Alice\nX-Model: ok"]
--- error_code eval
[502, 200]
--- response_headers eval
["", "x-ratelimit-remaining-tokens: 70"]



=== TEST 17: the upstream's own x-ratelimit-*-tokens headers are replaced, its other headers kept
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-Model: ratelimited"
--- response_headers_like
x-ratelimit-limit-tokens: 100
x-ratelimit-remaining-tokens: 85
x-ratelimit-limit-requests: 77
x-ratelimit-reset-tokens: (\d+h)?(\d+m)?\d+(\.\d+)?s



=== TEST 18: the audit line and the OpenTelemetry log: model, input and output tokens
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=30/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "GET /audit", "GET /otel"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: ok", "Authorization: Bearer $::Alice\nX-Model: ok", "", ""]
--- error_code eval
[200, 429, 200, 200]
--- audit_usage eval
[2, { 0 => { model => "m1", decision => "allow", status => 200, usage => { input_tokens => 12, output_tokens => 5, reserved => 15, charged => 17, from_answer => JSON::PP::true } },
      1 => { model => "m1", decision => "deny", event => "usage.limit", status => 429, usage => undef } }]
--- otel eval
[3, [ { "gen_ai.request.model" => "m1", "gen_ai.usage.input_tokens" => "12", "gen_ai.usage.output_tokens" => "5", status => "200" },
      { "gen_ai.request.model" => "m1", "gen_ai.usage.input_tokens" => "", "gen_ai.usage.output_tokens" => "", status => "429" } ]]



=== TEST 19: max_tokens, n and best_of must be integers in range: 400 otherwise
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100000000000/d;')
--- request eval
[ map { "POST /v1/chat\n$_" }
  '{"max_tokens":0}', '{"max_tokens":-1}', '{"max_tokens":"10"}', '{"max_tokens":1.5}',
  '{"max_tokens":10.0}', '{"max_tokens":1e3}', '{"max_tokens":100000001}', '{"max_tokens":true}',
  '{"max_completion_tokens":[1]}', '{"max_output_tokens":{}}', '{"n":0}', '{"n":129}', '{"best_of":"2"}',
  '{"max_tokens":99999999999999999999999}',
  '{"max_tokens":100000000,"n":128}' ]
--- more_headers eval
[ ("Authorization: Bearer $::Alice\nX-Model: ok") x 15 ]
--- error_code eval
[ (400) x 14, 200 ]
--- response_body_like eval
[ (qr/^\{"error":\{"type":"invalid_request_error","code":"invalid_value","message":"\\"(max_tokens|max_completion_tokens|max_output_tokens|n|best_of)\\" must be an integer from 1 to \d+"\}\}$/) x 13,
  qr/"code":"invalid_json"|"code":"invalid_value"/, qr/"usage"/ ]



=== TEST 20: a body the model might read otherwise than the gateway (a duplicate max_tokens, truncated, a byte order mark) is refused before any reservation
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100000/d;')
--- request eval
[ (map { "POST /v1/chat\n$_" }
   '{"max_tokens":10,"max_tokens":100000}', '  {"prompt":"a"', "\xef\xbb\xbf[1,", '{"a":"b"} trailing'),
  "POST /v1/chat\n$::B15" ]
--- more_headers eval
[ ("Authorization: Bearer $::Alice\nX-Model: ok\nContent-Type: text/plain") x 5 ]
--- error_code eval
[ (400) x 4, 200 ]
--- response_body eval
[ map({ qq({"error":{"type":"invalid_request_error","code":$_}}\n) }
      '"duplicate_member","message":"request body is not valid JSON: duplicate member name at offset 17"',
      '"invalid_json","message":"request body is not valid JSON: premature end at offset 13"',
      '"invalid_encoding","message":"request body is not UTF-8 text: byte order mark at offset 0"',
      '"invalid_json","message":"request body is not valid JSON: more after the value at offset 10"'),
  $::Answer{ok} ]
--- response_headers eval
[ ("!x-ratelimit-remaining-tokens") x 4, "x-ratelimit-remaining-tokens: 99985" ]



=== TEST 21: a request without a key (no such claim, no header) is refused 403 and logged
--- config eval
main::gateway('zt_usage_limit zone=u key=$http_x_user tokens=100/d;')
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-Model: ok"
--- error_code: 403
--- response_body eval
'{"error":{"type":"permission_error","code":"usage_key_missing","message":"this request cannot be attributed to a usage budget"}}' . "\n"
--- error_log
zt: usage: the key of zone "u" is empty, refused



=== TEST 22: a token without sub has no key with key=$zt_sub: 403, not a shared budget
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::NoSub\nX-Model: ok"
--- error_code: 403
--- response_body_like chomp
"code":"usage_key_missing"



=== TEST 23: a key longer than 512 bytes is refused, one of 512 is not
--- config eval
main::gateway('zt_usage_limit zone=u key=$http_x_user tokens=100/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: ok\nX-User: " . ("a" x 513),
 "Authorization: Bearer $::Alice\nX-Model: ok\nX-User: " . ("a" x 512)]
--- error_code eval
[403, 200]



=== TEST 23b: ... and logged
--- config eval
main::gateway('zt_usage_limit zone=u key=$http_x_user tokens=100/d;')
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-Model: ok\nX-User: " . ("a" x 513)
--- error_code: 403
--- error_log
zt: usage: the key of zone "u" is longer than 512 bytes, refused



=== TEST 24: the policy decides first: a denied request reserves nothing
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;',
              policy => 'zt_policy deny body~deny-me; zt_policy allow scope=inference:invoke;')
--- request eval
["POST /v1/chat\n" . '{"prompt":"deny-me","max_tokens":10}', "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: ok", "Authorization: Bearer $::Alice\nX-Model: ok"]
--- error_code eval
[403, 200]
--- response_headers eval
["!x-ratelimit-remaining-tokens", "x-ratelimit-remaining-tokens: 85"]



=== TEST 25: a limit without zt_policy still applies (a key from the client's address); zt_usage_limit off and zt_policy off lift it
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;', extra => '
    location = /anon {
        zt_usage_limit zone=anon key=$remote_addr tokens=20/d;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
    }
    location /open/ {
        zt_usage_limit zone=anon key=$remote_addr tokens=20/d;
        location = /open/unlimited {
            zt_usage_limit off;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
        }
        location = /open/health {
            zt_policy off;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
        }
    }')
--- request eval
["POST /anon\n$::B15", "POST /anon\n$::B15", "POST /open/unlimited\n$::B15", "POST /open/health\n$::B15"]
--- error_code eval
[200, 429, 200, 200]
--- response_headers eval
["x-ratelimit-remaining-tokens: 5", "x-ratelimit-remaining-tokens: 3",
 "!x-ratelimit-remaining-tokens", "!x-ratelimit-remaining-tokens"]



=== TEST 26: inherited like limit_req: a location's own limits replace the server's
--- config eval
main::gateway('', extra => '
    zt_usage_limit zone=u key=$zt_sub tokens=100/d;
    location = /v1/own {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=u2 key=$zt_sub tokens=50/d;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
    }')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/own\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: ok", "Authorization: Bearer $::Alice"]
--- response_headers eval
["x-ratelimit-limit-tokens: 100", "x-ratelimit-limit-tokens: 50"]



=== TEST 27: configuration errors: no zone, no key, no window
--- config
    location = /x { zt_usage_limit zone=u tokens=10/m; }
--- must_die
--- error_log
"zt_usage_limit" needs "zone=", "key=" and at least one "tokens=N/PERIOD"



=== TEST 28: configuration errors: a period other than s, m, h, d
--- config
    location = /x { zt_usage_limit zone=u key=a tokens=10/w; }
--- must_die
--- error_log
invalid "tokens=10/w" in "zt_usage_limit"



=== TEST 29: configuration errors: two windows of one period
--- config
    location = /x { zt_usage_limit zone=u key=a tokens=10/m tokens=20/m; }
--- must_die
--- error_log
a second window per minute in "zt_usage_limit"



=== TEST 30: configuration errors: zero tokens, and more than 10^12
--- config
    location = /x { zt_usage_limit zone=u key=a tokens=0/m; }
--- must_die
--- error_log
invalid "tokens=0/m" in "zt_usage_limit"



=== TEST 31: configuration errors: a zone name that would not be a plain Redis key, a bad size
--- config
    location = /x { zt_usage_limit zone=a/b key=a tokens=1/m; }
--- must_die
--- error_log
invalid zone name in "zone=a/b" of "zt_usage_limit"



=== TEST 32: configuration errors: a zone size that is not one
--- config
    location = /x { zt_usage_limit zone=a:b:1m key=a tokens=1/m; }
--- must_die
--- error_log
invalid size in "zone=a:b:1m" of "zt_usage_limit"



=== TEST 33: configuration errors: two sizes for one zone
--- config
    location = /x { zt_usage_limit zone=z:64k key=a tokens=1/m; }
    location = /y { zt_usage_limit zone=z:128k key=a tokens=1/m; }
--- must_die
--- error_log
the size of zone "z" differs from the size given before



=== TEST 34: configuration errors: the redis store without zt_redis
--- config
    location = /x { zt_usage_limit zone=z key=a tokens=1/m; zt_usage_limit_store redis; }
--- must_die
--- error_log
"zt_usage_limit_store redis" needs "zt_redis"



=== TEST 35: configuration errors: max_tokens_default out of range
--- config
    location = /x { zt_usage_limit zone=z key=a tokens=1/m max_tokens_default=100000001; }
--- must_die
--- error_log
invalid parameter "max_tokens_default=100000001" in "zt_usage_limit"



=== TEST 36: configuration errors: off and a limit in one location
--- config
    location = /x { zt_usage_limit off; zt_usage_limit zone=z key=a tokens=1/m; }
--- must_die
--- error_log
"zt_usage_limit" conflicts with "zt_usage_limit off"



=== TEST 37: the upstream is asked for an answer it does not compress, so that its usage can be read; the client's own Accept-Encoding stays for gzip
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: encoding\nAccept-Encoding: gzip, br",
 "Authorization: Bearer $::Alice\nX-Model: ok"]
--- response_body_like eval
['"accept_encoding":"identity"', '.*']
--- response_headers eval
["x-ratelimit-remaining-tokens: 85", "x-ratelimit-remaining-tokens: 68"]



=== TEST 38: a compressed answer is not read: the reservation is charged, and logged
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;')
--- request eval
"POST /v1/chat\n$::B15"
--- more_headers eval
"Authorization: Bearer $::Alice\nX-Model: gzipped"
--- error_code: 200
--- error_log
zt: usage: an answer with "Content-Encoding: gzip" is not read, the reservation is charged



=== TEST 39: an embeddings answer (prompt_tokens and total_tokens) is charged its input; a total alone is not usage (22 bytes of strings: 6 reserved)
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d max_tokens_default=0;')
--- request eval
my $b = '{"model":"e","input":"hello world, embed me"}';
["POST /v1/chat\n$b", "POST /v1/chat\n$b", "POST /v1/chat\n$b", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: embeddings", "Authorization: Bearer $::Alice\nX-Model: totalonly",
 "Authorization: Bearer $::Alice\nX-Model: ok", ""]
--- response_headers eval
["x-ratelimit-remaining-tokens: 94", "x-ratelimit-remaining-tokens: 86", "x-ratelimit-remaining-tokens: 80", ""]
--- audit_usage eval
[3, { 0 => { usage => { input_tokens => 8, output_tokens => 0, reserved => 6, charged => 8, from_answer => JSON::PP::true } },
      1 => { usage => { input_tokens => undef, output_tokens => undef, reserved => 6, charged => 6, from_answer => JSON::PP::false } } }]



=== TEST 40: a limit without zt_policy is audited: allowed by the limit, with its usage, no caller
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100/d;', extra => '
    location = /anon {
        zt_usage_limit zone=anon key=$remote_addr tokens=20/d;
        access_log logs/audit.log zt_audit;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/model/ok;
    }')
--- request eval
["POST /anon\n$::B15", "POST /anon\n$::B15", "GET /audit"]
--- error_code eval
[200, 429, 200]
--- audit_usage eval
[2, { 0 => { sub => undef, decision => "allow", status => 200, usage => { input_tokens => 12, output_tokens => 5, reserved => 15, charged => 17, from_answer => JSON::PP::true } },
      1 => { sub => undef, decision => "deny", event => "usage.limit", status => 429, usage => undef } }]



=== TEST 41: the estimate reads the top level only, names unescaped: "max\u005ftokens" counts, a nested max_tokens or n does not
--- config eval
main::gateway('zt_usage_limit zone=u key=$http_x_key tokens=1000/d max_tokens_default=300;')
--- request eval
[
    "POST /v1/chat\n" . '{"max\u005ftokens":7,"p":"abcd"}',
    "POST /v1/chat\n" . '{"\u006e":3,"max_tokens":10,"p":"a"}',
    "POST /v1/chat\n" . '{"p":"abcd","o":{"max_tokens":100,"n":5}}',
    "POST /v1/chat\n" . '[{"max_tokens":5}]',
    "POST /v1/chat\n" . '{"p":"ab\"cd\\\\"}',
    "POST /v1/chat\n" . '{"max\u005ftokens":0}',
]
--- more_headers eval
[ map { "Authorization: Bearer $::Alice\nX-Model: ok\nX-Key: e$_" } 1 .. 6 ]
--- error_code eval
[200, 200, 200, 200, 200, 400]
--- response_headers eval
[ (map { "x-ratelimit-remaining-tokens: " . (1000 - $_) } 8, 31, 301, 300, 302), "" ]



=== TEST 42: the audited model is the top-level "model" unescaped, cut at 256 bytes, and none when it is not a string
--- config eval
main::gateway('zt_usage_limit zone=u key=$zt_sub tokens=100000/d;')
--- request eval
["POST /v1/chat\n" . '{"mod\u0065l":"m\u0031","prompt":"a"}',
 "POST /v1/chat\n" . '{"model":7,"prompt":"a"}',
 "POST /v1/chat\n" . '{"o":{"model":"inner"},"prompt":"a"}',
 "POST /v1/chat\n" . '{"model":"' . ("x" x 300) . '"}',
 "GET /audit"]
--- more_headers eval
[ ("Authorization: Bearer $::Alice\nX-Model: ok") x 4, "" ]
--- error_code eval
[200, 200, 200, 200, 200]
--- audit_usage eval
[4, { 0 => { model => "m1" }, 1 => { model => undef }, 2 => { model => undef },
      3 => { model => "x" x 256 } }]
