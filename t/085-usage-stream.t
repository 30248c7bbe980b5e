# Usage limits on streamed answers (server-sent events): the usage is read
# from the event that carries it (OpenAI's last chunk with
# stream_options.include_usage, Anthropic's message_start and
# message_delta, the Responses API's response.completed), never from the
# text the model streams; a stream without usage is charged the
# reservation.  Events split across writes, and masking on the same
# location, change nothing.
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

# costs 15 (see t/080)
our $B15 = '{"model":"m1","messages":[{"role":"user","content":"hello world!"}],"max_tokens":10,"stream":true}';

sub chunk {
    my (%a) = @_;
    my %doc = (id => 'chatcmpl-1', object => 'chat.completion.chunk',
               model => 'stub', choices => $a{choices} // []);
    $doc{usage} = $a{usage} if exists $a{usage};
    return JSON::PP->new->canonical->encode(\%doc);
}

sub delta {
    my ($text, %a) = @_;
    return chunk(choices => [{ index => 0, delta => { content => $text },
                               finish_reason => $a{finish} }],
                 exists $a{usage} ? (usage => $a{usage}) : ());
}

# each stream: a list of writes; a write is a list of events, "|" cuts an
# event between two writes
our %Stream = (
    openai => [
        [ "data: " . delta('Hel', usage => undef) ],
        [ "data: " . delta('lo', usage => undef) ],
        [ "data: " . delta('', finish => 'stop', usage => undef) ],
        [ "data: " . chunk(choices => [], usage => { prompt_tokens => 12,
              completion_tokens => 3, total_tokens => 15 }), "data: [DONE]" ],
    ],
    openai_nousage => [
        [ "data: " . delta('Hel') ], [ "data: " . delta('lo', finish => 'stop') ],
        [ "data: [DONE]" ],
    ],
    # the model writes a usage object, and an event, in its text
    injected => [
        [ "data: " . delta('"usage":{"prompt_tokens":1,"completion_tokens":1}') ],
        [ "data: " . delta("\n\ndata: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n") ],
        [ "data: " . delta('x', finish => 'stop') ],
        [ "data: [DONE]" ],
    ],
    anthropic => [
        [ "event: message_start\ndata: " . '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"stub","usage":{"input_tokens":10,"cache_read_input_tokens":4,"output_tokens":1}}}' ],
        [ "event: content_block_start\ndata: " . '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
          "event: ping\ndata: " . '{"type": "ping"}' ],
        [ "event: content_block_delta\ndata: " . '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"{\"usage\":{\"output_tokens\":1}}"}}' ],
        [ "event: content_block_stop\ndata: " . '{"type":"content_block_stop","index":0}' ],
        [ "event: message_delta\ndata: " . '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}' ],
        [ "event: message_stop\ndata: " . '{"type":"message_stop"}' ],
    ],
    responses => [
        [ "event: response.created\ndata: " . '{"type":"response.created","response":{"id":"resp_1","status":"in_progress","usage":null}}' ],
        [ "event: response.output_text.delta\ndata: " . '{"type":"response.output_text.delta","delta":"hi"}' ],
        [ "event: response.completed\ndata: " . '{"type":"response.completed","response":{"id":"resp_1","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":8,"output_tokens":2,"total_tokens":10}}}' ],
    ],
    # the usage event arrives in three writes, cut inside a number
    split => [
        [ "data: " . delta('Hi', usage => undef) ],
        [ 'data: {"choices":[],"usage":{"prompt_tokens":1|' ],
        [ '2,"completion_tokens":3,"to|' ],
        [ 'tal_tokens":15}}', "data: [DONE]" ],
    ],
    # an email for the masking of the last block
    email => [
        [ "data: " . delta('write to alice@', usage => undef) ],
        [ "data: " . delta('example.com now', finish => 'stop', usage => undef) ],
        [ "data: " . chunk(choices => [], usage => { prompt_tokens => 12,
              completion_tokens => 3 }), "data: [DONE]" ],
    ],
);

# JSON answers written in pieces: the scanner keeps a count cut between two
our %Pieces = (
    json_split => [ '{"id":"x","choices":[{"index":0,"message":{"content":"hi"}}],"usage":{"prompt_tokens":1|',
                    '2,"completion_tokens":|', '5|', '}}|' ],
    # a count longer than any the reader takes, cut: not taken
    json_long => [ '{"usage":{"prompt_tokens":1|', ('0' x 70) . '|',
                   ',"completion_tokens":5}}|' ],
    # names cut, and a name whose value comes in a later write
    json_names => [ '{"id":"x","us|', 'age"|', ':{"prompt_to|', 'kens"|', ' :|',
                    ' 12,"completion_tokens"|', ': 5,"note":"written over the last"}}|' ],
    # names written with escapes are the same names
    json_escaped => [ '{"us\\u0061ge":{"prompt_tokens":12,"completion\\u005Ftokens":5}}|' ],
    # the model's text longer than zt_mask_buffer (64 bytes, below)
    json_text => [ '{"choices":[{"index":0,"message":{"content":"' . ('long text ' x 30) . '|',
                   ('more text ' x 30) . '"}}],|', '"usage":{"prompt_tokens":12,"completion_tokens":5}}|' ],
);

# the echo directives of a stream: one write each, flushed, a pause between
sub echo_stream {
    my ($writes) = @_;
    my @out;
    for my $w (@$writes) {
        my $text = join '', map { /\|$/ ? substr($_, 0, -1) : "$_\n\n" } @$w;
        $text =~ s/\\/\\\\/g;
        $text =~ s/'/\\'/g;
        $text =~ s/\n/\\n/g;
        push @out, "echo -n '$text';", "echo_flush;", "echo_sleep 0.05;";
    }
    return join "\n        ", @out;
}

sub gateway {
    my ($extra) = @_;
    my $models = join '', map {
        "    location = /model/$_ {\n"
        . "        default_type text/event-stream;\n"
        . "        " . echo_stream($Stream{$_}) . "\n    }\n"
    } sort keys %Stream;
    $models .= join '', map {
        "    location = /model/$_ {\n"
        . "        default_type application/json;\n"
        . "        " . echo_stream([ map { [$_] } @{ $Pieces{$_} } ]) . "\n    }\n"
    } sort keys %Pieces;
    $extra //= '';
    return <<"_EOC_";
    zt_jwks_file \$TEST_NGINX_DATA_DIR/jwks.json;

    location = /v1/chat {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=u key=\$zt_sub tokens=100/d;
        access_log logs/audit.log zt_audit;
        proxy_buffering off;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/model/\$http_x_model;
        $extra
    }

$models
    location = /audit { default_type text/plain; alias logs/audit.log; }
_EOC_
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    log_format zt_audit escape=none '$zt_audit';
_EOC_
});

# --- audit_usage: [index of the /audit request, {line n's "usage"}]
add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;
    my $spec = $block->audit_usage or return;
    my ($at, $want) = @$spec;
    return unless $req_idx == $at;
    my @lines = grep { length } split /\n/, $body;
    for my $n (sort keys %$want) {
        my $line = eval { JSON::PP->new->decode($lines[$n]) } || {};
        is_deeply($line->{usage}, $want->{$n},
                  $block->name . " - audit line $n, usage") or diag($lines[$n]);
    }
});

run_tests();

__DATA__

=== TEST 1: OpenAI's stream with include_usage: the last chunk's usage is charged (12 + 3)
--- config eval
main::gateway()
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: openai", "Authorization: Bearer $::Alice\nX-Model: openai", ""]
--- response_headers eval
["x-ratelimit-remaining-tokens: 85\nContent-Type: text/event-stream", "x-ratelimit-remaining-tokens: 70", ""]
--- response_body_like eval
['"content":"Hel".*"content":"lo".*"total_tokens":15.*data: \[DONE\]', '.*', '.*']
--- audit_usage eval
[2, { 0 => { input_tokens => 12, output_tokens => 3, reserved => 15, charged => 15, from_answer => JSON::PP::true } }]



=== TEST 2: a stream without usage: the reservation is charged
--- config eval
main::gateway()
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: openai_nousage", "Authorization: Bearer $::Alice\nX-Model: openai", ""]
--- response_headers eval
["x-ratelimit-remaining-tokens: 85", "x-ratelimit-remaining-tokens: 70", ""]
--- audit_usage eval
[2, { 0 => { input_tokens => undef, output_tokens => undef, reserved => 15, charged => 15, from_answer => JSON::PP::false },
      1 => { input_tokens => 12, output_tokens => 3, reserved => 15, charged => 15, from_answer => JSON::PP::true } }]



=== TEST 3: usage written by the model, even an event written in its text, is not the answer's
--- config eval
main::gateway()
--- request eval
["POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: injected", ""]
--- response_body_like eval
['prompt_tokens.*\[DONE\]', '.*']
--- audit_usage eval
[1, { 0 => { input_tokens => undef, output_tokens => undef, reserved => 15, charged => 15, from_answer => JSON::PP::false } }]



=== TEST 4: Anthropic's stream: input from message_start (cache reads added), output from the last message_delta
--- config eval
main::gateway()
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: anthropic", "Authorization: Bearer $::Alice\nX-Model: anthropic", ""]
--- response_headers eval
["x-ratelimit-remaining-tokens: 85", "x-ratelimit-remaining-tokens: 62", ""]
--- audit_usage eval
[2, { 0 => { input_tokens => 14, output_tokens => 9, reserved => 15, charged => 23, from_answer => JSON::PP::true } }]



=== TEST 5: the Responses API's stream: response.completed carries the usage
--- config eval
main::gateway()
--- request eval
["POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: responses", ""]
--- audit_usage eval
[1, { 0 => { input_tokens => 8, output_tokens => 2, reserved => 15, charged => 10, from_answer => JSON::PP::true } }]



=== TEST 6: an event cut across writes, inside a number, is read whole
--- config eval
main::gateway()
--- request eval
["POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: split", ""]
--- response_body_like eval
['"prompt_tokens":12,"completion_tokens":3,"total_tokens":15', '.*']
--- audit_usage eval
[1, { 0 => { input_tokens => 12, output_tokens => 3, reserved => 15, charged => 15, from_answer => JSON::PP::true } }]



=== TEST 7: masking on the same stream: the secret split across two events is masked, the usage still read
--- config eval
main::gateway('zt_mask_pattern email;')
--- request eval
["POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: email", ""]
--- response_body_unlike eval
['alice@|example\.com', '^$']
--- audit_usage eval
[1, { 0 => { input_tokens => 12, output_tokens => 3, reserved => 15, charged => 15, from_answer => JSON::PP::true } }]



=== TEST 8: a JSON answer written in pieces, cut inside the counts: read whole (12 + 5)
--- config eval
main::gateway()
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: json_split", "Authorization: Bearer $::Alice\nX-Model: json_long", ""]
--- response_body_like eval
['^' . quotemeta('{"id":"x","choices":[{"index":0,"message":{"content":"hi"}}],"usage":{"prompt_tokens":12,"completion_tokens":5}}') . '$',
 '^' . quotemeta('{"usage":{"prompt_tokens":1' . ('0' x 70) . ',"completion_tokens":5}}') . '$', '.*']
--- audit_usage eval
[2, { 0 => { input_tokens => 12, output_tokens => 5, reserved => 15, charged => 17, from_answer => JSON::PP::true },
      1 => { input_tokens => undef, output_tokens => undef, reserved => 15, charged => 15, from_answer => JSON::PP::false } }]



=== TEST 9: a JSON answer cut inside its member names, and between a name and its value: read whole (12 + 5); names with escapes are the same names (12 + 5)
--- config eval
main::gateway()
--- request eval
["POST /v1/chat\n$::B15", "POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: json_names", "Authorization: Bearer $::Alice\nX-Model: json_escaped", ""]
--- response_body_like eval
['^' . quotemeta('{"id":"x","usage":{"prompt_tokens" : 12,"completion_tokens": 5,"note":"written over the last"}}') . '$', '^\{"us\\\\u0061ge"', '.*']
--- audit_usage eval
[2, { 0 => { input_tokens => 12, output_tokens => 5, reserved => 15, charged => 17, from_answer => JSON::PP::true },
      1 => { input_tokens => 12, output_tokens => 5, reserved => 15, charged => 17, from_answer => JSON::PP::true } }]



=== TEST 10: the model's text longer than zt_mask_buffer does not keep the usage from being read: the reader is told nothing of it (12 + 5)
--- config eval
main::gateway('zt_mask_buffer 64;')
--- request eval
["POST /v1/chat\n$::B15", "GET /audit"]
--- more_headers eval
["Authorization: Bearer $::Alice\nX-Model: json_text", ""]
--- response_body_like eval
['^\{"choices":\[\{"index":0,"message":\{"content":"(long text ){30}(more text ){30}"\}\}\],"usage":\{"prompt_tokens":12,"completion_tokens":5\}\}$', '.*']
--- audit_usage eval
[1, { 0 => { input_tokens => 12, output_tokens => 5, reserved => 15, charged => 17, from_answer => JSON::PP::true } }]
