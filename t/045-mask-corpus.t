# The published corpus of each detector (t/data/corpus/DETECTOR.txt): every
# positive is masked and every negative left alone, in a JSON answer and in
# a stream where each line is cut in three pieces sent on its own channel,
# the channels interleaved.

use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Echo;
use FindBin ();
use JSON::PP ();

our @DETECTORS = qw(credit_card email us_ssn iban phone ipv4 jwt api_key);
our $JSON = JSON::PP->new->ascii;

# [ [input, expected], ... ] of one detector
sub corpus {
    my $det = shift;
    my $file = "$FindBin::Bin/data/corpus/$det.txt";
    open my $fh, '<', $file or die "$file: $!\n";
    my @lines;
    while (my $line = <$fh>) {
        chomp $line;
        next if $line =~ /^(#|\s*$)/;
        $line =~ /^([+-]) (.+)$/ or die "$file: bad line \"$line\"\n";
        my ($sign, $text) = ($1, $2);
        my $out = $sign eq '-' ? $text : '[REDACTED]';
        ($text, $out) = ($1, $2) if $sign eq '+' && $text =~ /^(.+?) => (.+)$/;
        push @lines, [$text, $out];
    }
    return @lines;
}

sub json_locations {
    my $conf = "    default_type application/json;\n";
    for my $det (@DETECTORS) {
        my $in = $JSON->encode([map { $_->[0] } corpus($det)]);
        $conf .= "    location = /$det { zt_mask_pattern $det; echo -n '"
               . quote_conf($in) . "'; }\n";
    }
    return $conf;
}

sub json_expected {
    return [map { my $d = $_; $JSON->encode([map { $_->[1] } corpus($d)]) } @DETECTORS];
}

sub piece {
    my ($index, $text) = @_;
    return 'data: ' . $JSON->encode({ object => 'chat.completion.chunk',
        choices => [{ index => $index, delta => { content => $text } }] }) . "\n\n";
}

# each line on its own choice, cut in three, the choices interleaved
sub stream_locations {
    my $conf = "    default_type text/event-stream;\n";
    for my $det (@DETECTORS) {
        my @c = corpus($det);
        my @events;
        for my $part (0 .. 2) {
            for my $i (0 .. $#c) {
                my $t = $c[$i][0];
                my ($a, $b) = (int(length($t) / 3), int(2 * length($t) / 3));
                my $p = (substr($t, 0, $a), substr($t, $a, $b - $a), substr($t, $b))[$part];
                push @events, piece($i, $p);
            }
        }
        push @events, 'data: ' . $JSON->encode({ choices => [{ index => $_, delta => {},
                              finish_reason => 'stop' }] }) . "\n\n" for 0 .. $#c;
        push @events, "data: [DONE]\n\n";
        $conf .= "    location = /$det { zt_mask_pattern $det;\n"
               . join('', map { "        echo -n '" . quote_conf($_) . "'; echo_flush;\n" } @events)
               . "    }\n";
    }
    return $conf;
}

# strings made to try the corners of the email matcher (a fixed seed), and
# what the detector's regex does to them
our @Generated = do {
    srand(2026);
    my $pick = sub { $_[int rand @_] };
    my @local = (qw(a b 1 . _ % + -), 'Zz');
    my @label = (qw(a b Z 1 - io com x));
    map {
        $pick->('', ' ', 'x', '.', '-', '@', 'a@', "\t")
        . join('', map { $pick->(@local) } 0 .. int rand 4) . '@'
        . join($pick->('.', '.', '.', '..', '-', '@'),
               map { join '', map { $pick->(@label) } 0 .. int rand 3 } 0 .. int rand 4)
        . $pick->('', '.', ' ', '1', 'x', '-', '@b.io', '.c', '.de.', '_')
    } 1 .. 400;
};

sub email_regex {
    my $s = shift;
    $s =~ s/(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+\@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])/[REDACTED]/g;
    return $s;
}

# the content of each choice, joined, equals the expected text
add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;
    return unless $block->name =~ /joined per channel/;
    my $det = $DETECTORS[$req_idx];
    my %text;
    my $valid = 1;
    for my $ev (split /\n\n/, $body) {
        next unless $ev =~ s/^data: //;
        next if $ev eq '[DONE]';
        my $j = eval { $JSON->decode($ev) } or do { $valid = 0; next };
        for my $ch (@{ $j->{choices} }) {
            $text{$ch->{index}} .= $ch->{delta}{content} // '';
        }
    }
    ok($valid, $block->name . " - $det: every event is JSON");
    my @c = corpus($det);
    is_deeply([map { $text{$_} // '' } 0 .. $#c], [map { $_->[1] } @c],
              $block->name . " - $det: each channel joined is the corpus, masked");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: each detector's corpus in JSON string values: positives masked, negatives untouched
--- config eval: main::json_locations()
--- request eval
[map { "GET /$_" } @main::DETECTORS]
--- response_body eval: main::json_expected()
--- no_error_log
[error]



=== TEST 2: each detector's corpus streamed, every line cut in three on its own interleaved channel: joined per channel, masked the same
--- config eval: main::stream_locations()
--- request eval
[map { "GET /$_" } @main::DETECTORS]
--- response_body_like eval
[map { '^data: ' } @main::DETECTORS]
--- no_error_log
[error]



=== TEST 3: the email detector's C matcher does what its regex does, on generated strings
--- user_files eval
">>> generated.json\n" . $main::JSON->encode(\@main::Generated)
--- config
    location = /generated.json {
        types { application/json json; }
        zt_mask_pattern email;
    }
--- request
GET /generated.json
--- response_body eval
$main::JSON->encode([map { main::email_regex($_) } @main::Generated])
