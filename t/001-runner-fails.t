# Self test of the bundled Test::Nginx::Socket stand-in (t/lib): wrong
# expectations must be reported as failures.  Scratch .t files are run in a
# subprocess through TAP::Parser and their results inspected.  They always
# run the stand-in (this is its test, whatever runner runs the suite), on
# the suite's port, and leave no nginx behind for the next file.
# Run: prove t/001-runner-fails.t
use strict;
use warnings;
use lib 't/inc';
use ZT::Test ();
use Test::More;
use TAP::Parser;
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use FindBin;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $lib = abs_path("$FindBin::Bin/lib");
my $inc = abs_path("$FindBin::Bin/inc");
my $dir = tempdir(CLEANUP => 1);
my $servroot = "$dir/servroot";
my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;

sub write_scratch {
    my ($name, $text) = @_;
    my $file = "$dir/$name.t";
    open my $out, '>', $file or die "$file: $!";
    print $out $text;
    close $out;
    return $file;
}

# Runs a scratch .t; returns (parser, [[description, actual_ok, skipped], ...]).
sub run_scratch {
    my ($name, $text) = @_;
    my $file = write_scratch($name, $text);
    local $ENV{TEST_NGINX_SERVROOT} = $servroot;
    my $parser = TAP::Parser->new({ exec => [$^X, "-I$lib", $file], merge => 1 });
    my @results;
    while (my $r = $parser->next) {
        push @results, [$r->description, $r->is_actual_ok, $r->has_skip] if $r->is_test;
        push @results, ['Bail out! ' . $r->explanation, 0, 0] if $r->is_bailout;
    }
    return ($parser, \@results);
}

# whatever happened above, no nginx of a scratch file outlives this file
END {
    local $?;
    if (open my $fh, '<', "$servroot/logs/nginx.pid") {
        my ($pid) = (<$fh> // '') =~ /(\d+)/;
        if ($pid && kill 0, $pid) {
            kill 'QUIT', $pid;
            my $deadline = time + 3;
            sleep 0.05 while kill(0, $pid) && time < $deadline;
            kill 'KILL', -$pid, $pid if kill 0, $pid;
        }
    }
}

sub outcome {   # "fail", "pass", or "missing" for the first test matching $re
    my ($results, $re) = @_;
    for my $r (@$results) {
        return $r->[1] ? 'pass' : 'fail' if $r->[0] =~ $re;
    }
    return 'missing';
}

sub nginx_gone {    # nothing listens on the port and no nginx from the pid file runs
    my $pidfile = "$servroot/logs/nginx.pid";
    if (open my $fh, '<', $pidfile) {
        my $pid = <$fh> // '';
        return 0 if $pid =~ /(\d+)/ && kill 0, $1;
    }
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
    return !$s;
}

# A listener that accepts connections (kernel backlog) but never answers.
my $hang = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Proto => 'tcp', Listen => 5) or die "listen: $!";
$ENV{TEST_NGINX_HANG_PORT} = $hang->sockport;

my $header = <<'_EOC_';
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();
add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    return unless defined $block->json_body;
    is_deeply(eval { JSON::PP::decode_json($body) }, $block->json_body,
              $block->name . " - json body");
});
run_tests();
__DATA__
_EOC_

my ($parser, $res) = run_scratch('fails', $header . <<'_EOC_');
=== TEST 1: wrong status
--- config
    location = /t { return 404; }
--- request
GET /t

=== TEST 2: wrong body
--- config
    location = /t { return 200 "actual\n"; }
--- request
GET /t
--- response_body
expected

=== TEST 3: missing error_log pattern
--- config
    location = /t { return 200; }
--- request
GET /t
--- error_log
this text never appears in the log

=== TEST 4: present no_error_log pattern
--- config
--- request
GET /missing.html
--- error_code: 404
--- no_error_log
[error]

=== TEST 5: wrong and unexpected headers
--- config
    location = /t { add_header X-Foo actual; add_header X-Bar 1; return 200; }
--- request
GET /t
--- response_headers
X-Foo: expected
!X-Bar

=== TEST 6: response_body_like mismatch
--- config
    location = /t { return 200 "abc\n"; }
--- request
GET /t
--- response_body_like: ^xyz

=== TEST 7: must_die but nginx starts
--- config
    location = /t { return 200; }
--- must_die

=== TEST 8: client timeout
--- config
    location = /t { proxy_pass http://127.0.0.1:$TEST_NGINX_HANG_PORT; }
--- request
GET /t
--- timeout: 300ms

=== TEST 9: json body check
--- config
    location = /t { return 200 '{"a":2}'; }
--- request
GET /t
--- json_body eval
{ a => 1 }

=== TEST 10: second of two requests has the wrong status
--- config
    location = /a { return 200; }
    location = /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 200]

=== TEST 11: grep_error_log_out mismatch
--- config
    location = /t { return 200; }
--- request
GET /t
--- grep_error_log eval
qr/http request line: "[^"]+"/
--- grep_error_log_out
http request line: "GET /other HTTP/1.1"

=== TEST 12: all good
--- config
    location = /t { return 200 "fine\n"; }
--- request
GET /t
--- response_body
fine
--- no_error_log
[error]

=== TEST 13: a no_error_log pattern fails once for every line it matches
--- config
    error_page 404 /nope2.html;
--- request
GET /nope1.html
--- error_code: 404
--- no_error_log
[error]
_EOC_

my @expect_fail = (
    qr/TEST 1: wrong status - status code ok/,
    qr/TEST 2: wrong body - response_body - response is expected/,
    qr/TEST 3: .* - pattern "this text never appears in the log" should match a line in error\.log/,
    qr/TEST 4: .* - pattern "\[error\]" should not match any line in error\.log/,
    qr/TEST 5: .* - header X-Foo ok/,
    qr/TEST 5: .* - header X-Bar not present in the raw headers/,
    qr/TEST 6: .* - response_body_like - response is expected/,
    qr/TEST 7: must_die but nginx starts - die as expected/,
    qr/ERROR: client socket timed out - .*TEST 8: client timeout/,
    qr/TEST 9: json body check - json body/,
    qr/TEST 11: .* - grep_error_log_out \(req 0\)/,
);
is(outcome($res, $_), 'fail', "reported as failure: $_") for @expect_fail;

is(outcome($res, qr/TEST 4: .* - status code ok/), 'pass', 'expected 404 passes');
is(outcome($res, qr/TEST 5: .* - status code ok/), 'pass', 'other checks of a failing block still pass');
my @t10 = map { $_->[1] ? 'pass' : 'fail' } grep { $_->[0] =~ /TEST 10: .* - status code ok/ } @$res;
is("@t10", 'pass fail', 'array of requests: only the second status check fails');
my @t12 = grep { $_->[0] =~ /TEST 12: all good/ } @$res;
is(scalar @t12, 3, 'the good block ran its 3 checks');
ok(!(grep { !$_->[1] } @t12), 'the good block passed');
my @t13 = map { $_->[1] ? 'pass' : 'fail' } grep { $_->[0] =~ /TEST 13: .* - pattern "\[error\]"/ } @$res;
is("@t13", 'fail fail', 'no_error_log: one failure for each of the two lines matched');
isnt($parser->exit, 0, 'the scratch file exits non-zero');
ok(nginx_gone(), 'no nginx left running after the scratch file');

# --- an nginx that cannot start ends the run (BAIL_OUT), as in the real one
($parser, $res) = run_scratch('bail', <<'_EOC_');
use Test::Nginx::Socket 'no_plan';
no_shuffle();
run_tests();
__DATA__
=== TEST 1: nginx cannot start
--- config
    location = /t { no_such_directive; }
--- request
GET /t

=== TEST 2: never runs
--- config
    location = /t { return 200; }
--- request
GET /t
_EOC_
is(outcome($res, qr/^Bail out! .*TEST 1: .* - Cannot start nginx/), 'fail',
   'a failed start bails out');
is(outcome($res, qr/TEST 2/), 'missing', 'no block runs after the bail-out');
ok(nginx_gone(), 'no nginx left running after the bail-out');

# --- ONLY, and a plan computed from blocks() and repeat_each()
($parser, $res) = run_scratch('only', <<'_EOC_');
use Test::Nginx::Socket;
repeat_each(2);
plan tests => repeat_each() * 2 * blocks();
run_tests();
__DATA__
=== TEST 1: would fail
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
never

=== TEST 2: the only one
--- ONLY
--- config
    location = /t { return 200 "only\n"; }
--- request
GET /t
--- response_body
only
_EOC_
is(scalar @$res, 4, 'ONLY: 2 checks x repeat_each(2), plan from blocks()');
ok(!(grep { !$_->[1] || $_->[0] !~ /TEST 2: the only one/ } @$res), 'ONLY: only TEST 2 ran, and passed');
is($parser->exit, 0, 'ONLY: scratch file exits 0');
ok(!$parser->has_problems, 'ONLY: plan matched');

# --- an interrupted run (SIGINT) stops its nginx
my $file = write_scratch('interrupted', <<'_EOC_');
use Test::Nginx::Socket 'no_plan';
run_tests();
__DATA__
=== TEST 1: hangs until interrupted
--- config
    location = /t { proxy_pass http://127.0.0.1:$TEST_NGINX_HANG_PORT; }
--- request
GET /t
--- timeout: 20
_EOC_
{
    local $ENV{TEST_NGINX_SERVROOT} = $servroot;
    my $child = fork // die "fork: $!";
    if (!$child) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec $^X, "-I$lib", $file or POSIX::_exit(127);
    }
    my ($ngx, $deadline) = (undef, time + 5);
    while (!$ngx && time < $deadline) {
        if (open my $fh, '<', "$servroot/logs/nginx.pid") { ($ngx) = (<$fh> // '') =~ /(\d+)/ }
        sleep 0.01;
    }
    ok($ngx, 'interrupted: nginx was started');
    sleep 0.2;    # the request is in flight now
    kill 'INT', $child;
    $deadline = time + 5;
    sleep 0.01 while waitpid($child, WNOHANG) == 0 && time < $deadline;
    ok(!($ngx && kill 0, $ngx), 'interrupted: nginx is gone after SIGINT to the test');
    ok(nginx_gone(), 'interrupted: port is free');
}

# --- debug_log / no_debug_log (t/inc/ZT/Test.pm): checked as error_log and
# no_error_log when nginx is built --with-debug, skipped otherwise
($parser, $res) = run_scratch('debug', <<"_EOC_" . <<'_EOC_');
use lib '$inc';
_EOC_
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
run_tests();
__DATA__
=== TEST 1: debug_log pattern missing
--- config
    location = /t { return 200; }
--- request
GET /t
--- debug_log
this text never appears in the log

=== TEST 2: no_debug_log pattern present
--- config
    location = /t { return 200; }
--- request
GET /t
--- no_debug_log
http request line

=== TEST 3: debug_log pattern present, beside an error_log one
--- config
    location = /t { return 200; }
--- request
GET /t
--- error_log
[notice]
--- debug_log
http request line
_EOC_
if (ZT::Test::debug_build()) {
    is(outcome($res, qr/TEST 1: .* - pattern "this text never appears in the log" should match a line/),
       'fail', 'debug nginx: a missing debug_log pattern fails');
    is(outcome($res, qr/TEST 2: .* - pattern "http request line" should not match/),
       'fail', 'debug nginx: a present no_debug_log pattern fails');
    is(outcome($res, qr/TEST 3: .* - pattern "http request line" matches a line/),
       'pass', 'debug nginx: a present debug_log pattern passes');
} else {
    ok(!(grep { $_->[0] =~ / - pattern "/ && $_->[0] !~ /\[notice\]/ } @$res),
       'nginx without --with-debug: debug_log and no_debug_log are skipped');
}
is(outcome($res, qr/TEST 3: .* - pattern "\[notice\]" matches a line/),
   'pass', 'error_log of a block with debug_log is still checked');
is(scalar(grep { $_->[0] =~ /status code ok/ && $_->[1] } @$res), 3,
   'the other checks of those blocks run and pass');

done_testing();
