# Streamed channels: every string of an event whose place recurs is joined
# to its earlier pieces, each channel on its own (tool call arguments,
# reasoning, Anthropic and Responses API deltas, plain text), so a secret
# split across events is masked whatever field carries it.  Channels that
# interleave never mix.  Checked on the text each client would put together.

use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Echo;
use JSON::PP ();

our $JSON = JSON::PP->new->canonical;

# an "echo" location sending the events one buffer each
sub stream {
    my ($rules, @events) = @_;
    return "    location = /t {\n        default_type text/event-stream;\n"
         . join('', map { "        $_\n" } @$rules)
         . join('', map { "        echo -n -- '" . quote_conf($_) . "'; echo_flush;\n" } @events)
         . "    }\n";
}

sub ev {
    my ($data, $event) = @_;
    my $d = ref $data ? $JSON->encode($data) : $data;
    return (defined $event ? "event: $event\n" : '') . "data: $d\n\n";
}

sub openai {
    my (%c) = @_;
    my $choice = { index => $c{index} // 0, delta => $c{delta} // {},
                   finish_reason => $c{finish} };
    return ev({ id => 'chatcmpl-9x', object => 'chat.completion.chunk',
                created => 1700000000, model => 'gpt-4o-2024-08-06',
                system_fingerprint => 'fp_44709d6fcb', choices => [$choice] });
}

sub tool {
    my ($i, $args, %first) = @_;
    my $call = { index => $i, function => { arguments => $args } };
    if (%first) {
        $call->{id} = $first{id};
        $call->{type} = 'function';
        $call->{function}{name} = $first{name};
    }
    return openai(delta => { tool_calls => [$call] });
}

sub anthropic {
    my ($type, %f) = @_;
    return ev({ type => $type, %f }, $type);
}

sub responses {
    my ($type, %f) = @_;
    our $seq;
    return ev({ type => $type, sequence_number => $seq++, %f }, $type);
}

# the texts a client would put together, by channel
our %JOIN = (
    openai => sub {
        my ($j, $out) = @_;
        for my $c (@{ $j->{choices} || [] }) {
            my $d = $c->{delta} || {};
            $out->{"$c->{index}.content"} .= $d->{content} if defined $d->{content};
            $out->{"$c->{index}.reasoning"} .= $d->{reasoning_content}
                if defined $d->{reasoning_content};
            for my $t (@{ $d->{tool_calls} || [] }) {
                $out->{"$c->{index}.tool$t->{index}"} .= $t->{function}{arguments} // '';
                $out->{"$c->{index}.name$t->{index}"} .= $t->{function}{name}
                    if defined $t->{function}{name};
            }
        }
    },
    anthropic => sub {
        my ($j, $out) = @_;
        return unless $j->{type} eq 'content_block_delta';
        my $d = $j->{delta};
        $out->{$j->{index}} .= $d->{text} // $d->{partial_json} // $d->{thinking} // '';
    },
    responses => sub {
        my ($j, $out) = @_;
        $out->{$j->{item_id}} .= $j->{delta} if $j->{type} =~ /\.delta$/;
        $out->{"$j->{item_id}.done"} = $j->{text} if $j->{type} eq 'response.output_text.done';
    },
    gemini => sub {
        my ($j, $out) = @_;
        for my $c (@{ $j->{candidates} }) {
            $out->{$c->{index}} .= join '', map { $_->{text} // '' } @{ $c->{content}{parts} };
        }
    },
);

add_response_body_check(sub {
    my ($block, $body) = @_;
    my $api = $block->joined_api or return;
    my $expected = eval $block->joined;
    die $@ if $@;
    my (%out, $bad);
    for my $ev (split /\n\n/, $body) {
        my ($data) = $ev =~ /^data: (.*)$/m or next;
        next if $data eq '[DONE]';
        if ($api eq 'text') {
            $out{text} .= join "\n", $ev =~ /^data: (.*)$/mg;
            next;
        }
        my $j = eval { $JSON->decode($data) } or do { $bad = $data; next };
        $JOIN{$api}->($j, \%out);
    }
    ok(!defined $bad, $block->name . " - every event is JSON" . ($bad ? ": $bad" : ''));
    is_deeply(\%out, $expected, $block->name . " - the channels put together");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a card split across two pieces of tool call arguments (the OpenAI shape)
--- config eval
main::stream(['zt_mask_pattern credit_card;'],
    main::tool(0, '', id => 'call_1', name => 'pay'),
    main::tool(0, '{"card":"4111 1111 '),
    main::tool(0, '1111 1111"}'),
    main::openai(finish => 'tool_calls'),
    "data: [DONE]\n\n")
--- request
GET /t
--- response_body_unlike: 4111|1111 1111
--- joined_api: openai
--- joined
{ '0.tool0' => '{"card":"[REDACTED]"}', '0.name0' => 'pay' }
--- no_error_log
[error]



=== TEST 2: a key split three ways in arguments, the protocol's fields untouched
--- config eval
main::stream(['zt_mask_pattern api_key;', 'zt_mask_pattern email;'],
    main::tool(0, '', id => 'call_abc', name => 'send_mail'),
    main::tool(0, '{"to":"bob@exa'),
    main::tool(0, 'mple.com","key":"sk-proj-abcdefgh'),
    main::tool(0, 'ijklmnopqrstuv1234"}'),
    main::openai(finish => 'tool_calls'),
    "data: [DONE]\n\n")
--- request
GET /t
--- response_body_like: ^(?=.*"model":"gpt-4o-2024-08-06")(?=.*"system_fingerprint":"fp_44709d6fcb")(?=.*"id":"call_abc")(?=.*"name":"send_mail")
--- joined_api: openai
--- joined
{ '0.tool0' => '{"to":"[REDACTED]","key":"[REDACTED]"}', '0.name0' => 'send_mail' }



=== TEST 3: two tool calls interleaved, each with a card split across its pieces: masked, never mixed
--- config eval
main::stream(['zt_mask_pattern credit_card;'],
    main::tool(0, '', id => 'call_a', name => 'a'),
    main::tool(0, '{"n":"5555 5555'),
    main::tool(1, '', id => 'call_b', name => 'b'),
    main::tool(1, '{"n":"4111 1111 1111'),
    main::tool(0, ' 5555 4444","m":1}'),
    main::tool(1, ' 1111","x":"4111 1111 1111 1112"}'),
    main::openai(finish => 'tool_calls'),
    "data: [DONE]\n\n")
--- request
GET /t
--- joined_api: openai
--- joined
{ '0.tool0' => '{"n":"[REDACTED]","m":1}', '0.tool1' => '{"n":"[REDACTED]","x":"4111 1111 1111 1112"}',
  '0.name0' => 'a', '0.name1' => 'b' }



=== TEST 4: reasoning_content is a channel of its own, apart from content
--- config eval
main::stream(['zt_mask_pattern us_ssn;'],
    main::openai(delta => { role => 'assistant', content => '' }),
    main::openai(delta => { reasoning_content => 'the SSN is 078-' }),
    main::openai(delta => { reasoning_content => '05-1120, so' }),
    main::openai(delta => { content => 'Your number: 219-' }),
    main::openai(delta => { content => '09-9999.' }),
    main::openai(finish => 'stop'),
    "data: [DONE]\n\n")
--- request
GET /t
--- response_body_unlike: 078-|05-1120|219-|09-9999
--- joined_api: openai
--- joined
{ '0.reasoning' => 'the SSN is [REDACTED], so', '0.content' => 'Your number: [REDACTED].' }



=== TEST 5: an Anthropic Messages stream: text and partial_json deltas keyed by index
--- config eval
main::stream(['zt_mask_pattern credit_card;', 'zt_mask_pattern email;'],
    main::anthropic('message_start', message => { id => 'msg_01', type => 'message', role => 'assistant',
        model => 'claude-sonnet-4-20250514', content => [], usage => { input_tokens => 10 } }),
    main::anthropic('content_block_start', index => 0, content_block => { type => 'text', text => '' }),
    main::anthropic('ping'),
    main::anthropic('content_block_delta', index => 0, delta => { type => 'text_delta', text => 'Charging 4242 4242' }),
    main::anthropic('content_block_delta', index => 0, delta => { type => 'text_delta', text => ' 4242 4242 now.' }),
    main::anthropic('content_block_stop', index => 0),
    main::anthropic('content_block_start', index => 1, content_block => { type => 'tool_use', id => 'toolu_01',
        name => 'notify', input => {} }),
    main::anthropic('content_block_delta', index => 1, delta => { type => 'input_json_delta', partial_json => '{"to": "ann@exam' }),
    main::anthropic('content_block_delta', index => 1, delta => { type => 'input_json_delta', partial_json => 'ple.org"}' }),
    main::anthropic('content_block_stop', index => 1),
    main::anthropic('message_delta', delta => { stop_reason => 'tool_use', stop_sequence => undef },
        usage => { output_tokens => 30 }),
    main::anthropic('message_stop'))
--- request
GET /t
--- response_body_unlike: 4242|ann@|exam
--- joined_api: anthropic
--- joined
{ 0 => 'Charging [REDACTED] now.', 1 => '{"to": "[REDACTED]"}' }



=== TEST 6: Anthropic: what is held back when a block stops goes out before the stop, as a delta of that block
--- config eval
main::stream(['zt_mask_pattern credit_card;'],
    main::anthropic('content_block_delta', index => 0, delta => { type => 'text_delta', text => 'ref 4111 1111' }),
    main::anthropic('content_block_stop', index => 0))
--- request
GET /t
--- response_body eval
"event: content_block_delta\ndata: {\"delta\":{\"text\":\"ref \",\"type\":\"text_delta\"},\"index\":0,\"type\":\"content_block_delta\"}\n\n"
. "event: content_block_delta\ndata: {\"index\":0,\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"4111 1111\"}}\n\n"
. "event: content_block_stop\ndata: {\"index\":0,\"type\":\"content_block_stop\"}\n\n"



=== TEST 7: the Responses API: text and function call arguments keyed by item, interleaved
--- config eval
$main::seq = 0;
main::stream(['zt_mask_pattern credit_card;', 'zt_mask_pattern iban;'],
    main::responses('response.created', response => { id => 'resp_1', object => 'response', status => 'in_progress', output => [] }),
    main::responses('response.output_item.added', output_index => 0, item => { id => 'msg_1', type => 'message', role => 'assistant', content => [] }),
    main::responses('response.output_text.delta', item_id => 'msg_1', output_index => 0, content_index => 0, delta => 'IBAN DE89 3704 0044'),
    main::responses('response.output_item.added', output_index => 1, item => { id => 'fc_1', type => 'function_call', name => 'pay', arguments => '' }),
    main::responses('response.function_call_arguments.delta', item_id => 'fc_1', output_index => 1, delta => '{"card":"4111'),
    main::responses('response.output_text.delta', item_id => 'msg_1', output_index => 0, content_index => 0, delta => ' 0532 0130 00 ok'),
    main::responses('response.function_call_arguments.delta', item_id => 'fc_1', output_index => 1, delta => '111111111111"}'),
    main::responses('response.output_text.done', item_id => 'msg_1', output_index => 0, content_index => 0, text => 'IBAN DE89 3704 0044 0532 0130 00 ok'),
    main::responses('response.function_call_arguments.done', item_id => 'fc_1', output_index => 1, arguments => '{"card":"4111111111111111"}'),
    main::responses('response.completed', response => { id => 'resp_1', status => 'completed' }))
--- request
GET /t
--- response_body_unlike: 4111|DE89|0532
--- joined_api: responses
--- joined
{ msg_1 => 'IBAN [REDACTED] ok', fc_1 => '{"card":"[REDACTED]"}', 'msg_1.done' => 'IBAN [REDACTED] ok' }



=== TEST 8: plain-text data lines are one channel: a card split across them is masked
--- config eval
main::stream(['zt_mask_pattern credit_card;'],
    "data: my card is 4111\n\n", "data: 1111 1111\n\n", "data:  1111, thanks\n\n")
--- request
GET /t
--- response_body_unlike: 4111
--- joined_api: text
--- joined
{ text => 'my card is [REDACTED], thanks' }



=== TEST 9: a shape not listed anywhere (Gemini): candidates keyed by index, parts by position
--- config eval
sub gem { my ($i, $t, %x) = @_; main::ev({ candidates => [{ index => $i, content => { role => 'model', parts => [{ text => $t }] }, %x }],
    modelVersion => 'gemini-1.5-flash-002', responseId => 'r1' }) }
main::stream(['zt_mask_pattern credit_card;', 'zt_mask_pattern email;'],
    gem(0, 'Write to carol@'), gem(1, 'Card 3782 822463'), gem(0, 'example.com, or'), gem(1, ' 10005 is on file.'),
    gem(0, ' not.', finishReason => 'STOP'), gem(1, '', finishReason => 'STOP'))
--- request
GET /t
--- response_body_like: "modelVersion":"gemini-1.5-flash-002"
--- joined_api: gemini
--- joined
{ 0 => 'Write to [REDACTED], or not.', 1 => 'Card [REDACTED] is on file.' }



=== TEST 10: a non-null finish_reason next to the last piece releases what was held back in that piece
--- config eval
main::stream(['zt_mask_pattern credit_card;'],
    main::openai(delta => { content => 'ids 12345' }),
    main::openai(delta => { content => '678' }, finish => 'length'),
    "data: [DONE]\n\n")
--- request
GET /t
--- response_body eval
main::openai(delta => { content => 'ids ' }) . main::openai(delta => { content => '12345678' }, finish => 'length')
. "data: [DONE]\n\n"



=== TEST 11: a UTF-8 BOM at the start of the stream does not hide the first event from masking
--- config eval
main::stream(['zt_mask_pattern credit_card;'],
    "\xef\xbb\xbf" . main::openai(delta => { content => 'card 4111111111111111.' }), "data: [DONE]\n\n")
--- request
GET /t
--- response_body eval
"\xef\xbb\xbf" . main::openai(delta => { content => 'card [REDACTED].' }) . "data: [DONE]\n\n"



=== TEST 12: a BOM split across buffers, then the first line
--- config eval
main::stream(['zt_mask $.secret;'], "\xef", "\xbb", "\xbfdata: {\"secret\":\"s3cr3t\"}\n\n")
--- request
GET /t
--- response_body eval
"\xef\xbb\xbfdata: {\"secret\":\"[REDACTED]\"}\n\n"



=== TEST 13: only one BOM is dropped, as EventSource does: a second one makes a field clients ignore
--- config eval
main::stream(['zt_mask $.secret;'], "\xef\xbb\xbf\xef\xbb\xbfdata: {\"secret\":\"s3cr3t\"}\n\ndata: {\"secret\":1}\n\n")
--- request
GET /t
--- response_body eval
"\xef\xbb\xbf\xef\xbb\xbfdata: {\"secret\":\"s3cr3t\"}\n\ndata: {\"secret\":\"[REDACTED]\"}\n\n"



=== TEST 14: held-back text of a channel longer than zt_mask_buffer fails closed
--- config eval
main::stream(['zt_mask_pattern api_key;', 'zt_mask_buffer 64;'],
    main::openai(delta => { content => 'ok' }),
    (map { main::openai(delta => { content => ($_ ? '' : 'key sk-') . ('a' x 20) }) } 0 .. 4),
    "data: [DONE]\n\n")
--- request
GET /t HTTP/1.0
--- response_body_unlike: aaaaa
--- error_log
zt: mask: held-back text of a streamed channel is longer than zt_mask_buffer



=== TEST 15: more channels holding text back than a stream may have fails closed
--- config eval
main::stream(['zt_mask_pattern credit_card;'],
    (map { my $e = $_; main::ev({ choices => [{ index => 0, delta => { tool_calls =>
        [map { { index => $_, function => { arguments => "4111 $_" } } } $e * 50 .. $e * 50 + 49] } }] }) } 0 .. 21),
    "data: [DONE]\n\n")
--- request
GET /t
--- error_code: 502
--- error_log
zt: mask: too many streamed channels hold text back



=== TEST 16: two choices (n=2) streamed one per event, each a card split across its own pieces
--- config eval
main::stream(['zt_mask_pattern credit_card;'],
    main::openai(index => 0, delta => { content => 'A: 4111 1111' }),
    main::openai(index => 1, delta => { content => 'B: 5555 5555' }),
    main::openai(index => 1, delta => { content => ' 5555 4444.' }),
    main::openai(index => 0, delta => { content => ' 1111 1111.' }),
    main::openai(index => 0, finish => 'stop'), main::openai(index => 1, finish => 'stop'),
    "data: [DONE]\n\n")
--- request
GET /t
--- response_body_unlike: 4111|5555
--- joined_api: openai
--- joined
{ '0.content' => 'A: [REDACTED].', '1.content' => 'B: [REDACTED].' }



=== TEST 17: a channel that ends without [DONE] gives back what it held at the end of the stream
--- config eval
main::stream(['zt_mask_pattern email;'],
    main::openai(delta => { content => 'mail ann' }), main::openai(delta => { content => '@example.org' }))
--- request
GET /t
--- response_body_unlike: ann|example
--- joined_api: openai
--- joined
{ '0.content' => 'mail [REDACTED]' }



=== TEST 18: the event that carries held-back text alone copies the protocol's fields masked as the events had them
--- config eval
main::stream(['zt_mask_pattern credit_card;'],
    main::ev({ system_fingerprint => 'fp_4111111111111111', choices => [{ index => 0, delta => { content => 'x 5555 5555' } }] }),
    "data: [DONE]\n\n")
--- request
GET /t
--- response_body eval
main::ev({ system_fingerprint => 'fp_[REDACTED]', choices => [{ index => 0, delta => { content => 'x ' } }] })
. qq!data: {"system_fingerprint":"[REDACTED]","choices":[{"index":0,"delta":{"content":"5555 5555"}}]}\n\n!
. "data: [DONE]\n\n"
