package Test::Nginx::Socket;

# A small stand-in for Test::Nginx::Socket (CPAN, openresty/test-nginx), which
# cannot be installed here.  Test files written for it run unchanged: it is
# built on Test::Base, reads the same blocks, generates nginx.conf the same
# way, uses the same environment variables and prints the same test names.
# This half sends requests and checks responses and logs; Util.pm writes
# nginx.conf and starts/stops nginx.
#
# Per block: write t/servroot (conf/nginx.conf, html/, logs/), start nginx in
# the foreground (daemon off) and wait until its pid file names it, run the
# requests repeat_each() times, check.  nginx is stopped (QUIT, then KILL)
# when the next block brings its own --- config, at the end, and from END and
# INT/TERM/HUP handlers.  A block without --- config reuses the running nginx,
# as in the real one.
#
# Sections: main_config post_main_config http_config config server_name
#   log_level error_log_file user_files init request (string, eval string or
#   ARRAY of requests) raw_request (string or ARRAY of packets)
#   raw_request_middle_delay pipelined_requests more_headers (string or ARRAY,
#   one entry per request) timeout abort wait ignore_response error_code
#   error_code_like response_headers response_headers_like response_body
#   response_body_like response_body_unlike error_log no_error_log
#   grep_error_log grep_error_log_out access_log no_access_log must_die
#   server_addr_for_client, plus Test::Base's ONLY, SKIP, LAST and filters
#   (eval, chomp, chop, ...; trim is on by default).
# Functions: run_tests repeat_each no_shuffle workers master_on master_off
#   master_process_enabled log_level worker_connections env_to_nginx
#   add_block_preprocessor add_response_body_check add_cleanup_handler
#   no_root_location config_preamble server_name server_addr server_port
#   server_port_for_client html_dir server_root timeout check_accum_error_log
#   no_long_string is_str bail_out, and Test::Base's blocks, plan, is, ...
#
# Left out: HTTP/2 and HTTP/3 (curl), request packets (nested ARRAYs inside
#   --- request), raw_response_headers_(un)like, http09, shutdown,
#   response_body_filters, charset, tcp_listen/udp_listen mock servers,
#   shutdown_error_log, skip_eval/skip_nginx/skip_openssl, todo, user_files
#   dates, $TEST_NGINX_RAND_PORT_N, stap, valgrind, leak checking,
#   benchmarks, HUP reload, no_nginx_manager, TEST_NGINX_RANDOMIZE,
#   TEST_NGINX_NO_CLEAN, Test::LongString diffs.
# Differences: nginx runs with "daemon off" and "-e logs/error.log", and its
#   stderr is kept (logs/nginx.stderr) for must_die blocks.

use Test::Base -base;    # Test::Base subclass, without Spiffy's source filter
use Test::Nginx::Util;
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes qw(sleep);

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout check_accum_error_log
    add_block_preprocessor bail_out add_cleanup_handler add_response_body_check
);

our @ResponseBodyChecks;

# Each check is called after the built-in body checks of every response as
# $check->($block, $body, $req_idx, $repeated_req_idx, $dry_run) and emits
# its own Test::More assertions.
sub add_response_body_check ($) { push @ResponseBodyChecks, shift }

$Test::Nginx::Util::RunTestHelper = \&run_test_helper;
$Test::Nginx::Util::CheckErrorLog = \&check_error_log;

# ---- building requests ----

# "Name: value" lines -> CRLF header text; lines starting with # are comments
sub parse_more_headers ($) {
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, shift // '') {
        next if $line =~ /^\s*(?:#|$)/;
        my ($key, $val) = split /:\s*/, $line, 2;
        $val //= '';
        $chunked = 1 if lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# "METHOD [URI [VERSION]]\nbody" -> the bytes to send.  Adds Host and
# Connection unless given, and Content-Length (after trimming the body) unless
# given or chunked -- exactly what the real one does.
sub build_request ($$$$) {
    my ($name, $req, $more_headers, $conn) = @_;
    my ($hdrs, $chunked) = parse_more_headers($more_headers);
    1 while $req =~ s/^\s*#[^\n]*\n// || $req =~ s/^\s+//;
    my ($first, $body) = split /\n/, $req, 2;
    $first =~ /^(\S+)(?: +(\S+))?(?: +(\S+))?\s*$/
        or bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' but got \"$first\".");
    my ($meth, $url, $ver) = ($1, $2 // '/', $3 // 'HTTP/1.1');
    $body //= '';
    my $len = '';
    if (!$chunked && $body ne '' && $hdrs !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $len = "Content-Length: " . length($body) . "\r\n";
    }
    my $std = '';
    $std .= "Host: $ServerName\r\n" if $hdrs !~ /(?:^|\n)Host:/i;
    $std .= "Connection: $conn\r\n" if $hdrs !~ /(?:^|\n)Connection/i;
    return "$meth $url $ver\r\n$std$hdrs$len\r\n$body";
}

# Returns a list of connections; each is [ [packets...], $n_responses ].
sub get_requests ($) {
    my $block = shift;
    my $name = $block->name;
    if (defined(my $raw = $block->raw_request)) {
        return [ref $raw eq 'ARRAY' ? $raw : [$raw], 1];
    }
    my $mh = $block->more_headers // '';
    my $headers_for = sub {
        my $i = shift;
        return $mh unless ref $mh eq 'ARRAY';
        defined $mh->[$i] or bail_out("$name - --- more_headers lacks data for request $i");
        return $mh->[$i];
    };
    if (defined(my $reqs = $block->pipelined_requests)) {
        ref $reqs eq 'ARRAY' or bail_out("$name - invalid entries in --- pipelined_requests");
        my $data = join '', map {
            build_request($name, $reqs->[$_], $headers_for->($_),
                          $_ == $#$reqs ? 'close' : 'keep-alive')
        } 0 .. $#$reqs;
        return [[$data], scalar @$reqs];
    }
    my $req = $block->request;
    bail_out("$name - request empty") unless defined $req && $req ne '';
    my @reqs = ref $req eq 'ARRAY' ? @$req : ($req);
    return map {
        ref $reqs[$_] and bail_out("$name - request packets (nested ARRAY) are not supported by this runner");
        [[build_request($name, $reqs[$_], $headers_for->($_), 'close')], 1]
    } 0 .. $#reqs;
}

# ---- talking to nginx ----

sub send_request ($$$) {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    my $addr = $block->server_addr_for_client // $ServerAddr;
    local $SIG{PIPE} = 'IGNORE';
    my $sock;
    for my $try (1 .. 5) {
        $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout) and last;
        sleep 0.02 * $try;
    }
    if (!$sock) {
        Test::More::fail("$name - Can't connect to $addr:$ServerPortForClient: $! (aborted)\n");
        return '';
    }
    my $delay = parse_time($block->raw_request_middle_delay);
    my $n = 0;
    for my $p (@$packets) {
        my ($data, $wait) = ref $p eq 'HASH' ? ($p->{value}, $p->{delay_before}) : ($p, undef);
        $wait //= $delay if $n++;
        sleep $wait if $wait;
        for (my $off = 0; $off < length $data; ) {
            my $w = syswrite $sock, $data, length($data) - $off, $off;
            last unless $w;    # the server closed early; read what it sent
            $off += $w;
        }
    }
    my ($resp, $sel) = ('', IO::Select->new($sock));
    while (1) {
        if (!$sel->can_read($timeout)) {
            Test::More::fail("ERROR: client socket timed out - $name\n") unless defined $block->abort;
            last;
        }
        my $got = sysread $sock, my $buf, 65536;
        last unless $got;      # EOF (or reset)
        $resp .= $buf;
    }
    close $sock;
    return $resp;
}

# Minimal HTTP/1.x response parser.  Returns (\%res, $raw_headers, $leftover)
# with %res = (code, headers => { lc name => [values] }, content).
sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';
    my %res = (code => undef, headers => {}, content => '');
    my ($status, $rest) = split /\n/, $raw, 2;
    $rest //= '';
    $res{code} = $1 if ($status // '') =~ m{^HTTP/\S+\s+(\d+)};
    while ($rest =~ s/^([^\s:]+)[ \t]*:[ \t]*(.*?)\r?\n//) {
        push @{ $res{headers}{lc $1} }, $2;
    }
    $rest =~ s/^\r?\n//;
    my $res = bless \%res, 'Test::Nginx::Socket::Response';
    return ($res, $raw_headers) if $head_req || ($res{code} // 0) == 304 || ($res{code} // 0) == 101;

    my ($te, $len) = ($res->header('Transfer-Encoding'), $res->header('Content-Length'));
    my $left;
    if (defined $te && $te eq 'chunked') {
        my $body = '';
        while (1) {
            if ($rest =~ s/^0[ \t]*\r\n\r\n//) { $left = $rest if $rest ne ''; last }
            if ($rest =~ s/^[ \t]*([0-9A-Fa-f]+)[ \t]*\r\n//) {
                my $size = hex $1;
                if (length($rest) < $size + 2 || substr($rest, $size, 2) ne "\r\n") {
                    Test::More::fail("$name - invalid chunked data received");
                    last;
                }
                $body .= substr($rest, 0, $size);
                substr($rest, 0, $size + 2) = '';
                next;
            }
            Test::More::fail("$name - invalid chunked body received: $rest");
            last;
        }
        $res{content} = $body;
    } elsif (defined $len && $len =~ /^\d+$/) {
        if (length $rest > $len) { $left = substr($rest, $len); $rest = substr($rest, 0, $len) }
        elsif (length $rest < $len) {
            warn "WARNING: $name - response body truncated: $len expected, but got ", length $rest, "\n";
        }
        $res{content} = $rest;
    } else {
        $res{content} = $rest;
    }
    return ($res, $raw_headers, $left);
}

# ---- one repetition of a block ----

sub run_test_helper ($$$) {
    my ($block, $dry_run, $repeated_req_idx) = @_;
    my $name = $block->name;
    my @conns = get_requests($block);
    my $timeout = parse_time($block->timeout) // timeout();
    my $total = 0;
    $total += $_->[1] for @conns;
    my $need_array = $total > 1;
    my $req_idx = 0;
    my $res;

    for my $conn (@conns) {
        my ($packets, $nresp) = @$conn;
        my $raw = send_request($block, $packets, $timeout);
        my $head_req = join('', map { ref $_ ? $_->{value} : $_ } @$packets) =~ /^\s*HEAD\s+/;
        for (1 .. $nresp) {
            my ($raw_headers, $left);
            if (!defined $block->ignore_response) {
                ($res, $raw_headers, $left) = parse_response($name, $raw // '', $head_req);
                check_error_code($block, $res, $req_idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $req_idx, $need_array);
                check_response_body($block, $res, $dry_run, $req_idx, $repeated_req_idx, $need_array);
            }
            $raw = $left;
            if ($req_idx < $total - 1) {    # the real one checks logs between requests too
                sleep parse_time($block->wait) if $block->wait;
                check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
            }
            $req_idx++;
        }
    }
    sleep parse_time($block->wait) if $block->wait;
    check_error_log($block, $res, $dry_run, $repeated_req_idx, $need_array);
}

# With several requests every expectation must be an ARRAY (one per request).
sub get_indexed_value ($$$$) {
    my ($name, $value, $req_idx, $need_array) = @_;
    if (ref $value eq 'ARRAY') {
        return $value->[$req_idx];
    }
    bail_out("$name - You asked for many requests, the expected results should be arrays as well.")
        if $need_array;
    return $value;
}

sub check_error_code ($$$$) {
    my ($block, $res, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $pat = get_indexed_value($name, $block->error_code_like, $req_idx, $need_array);
        Test::More::like($code, qr/$pat/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        Test::More::is($code, get_indexed_value($name, $block->error_code, $req_idx, $need_array),
                       "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
}

# "Name: value" lines -> [name, value]; "!Name" -> [name, undef]
sub parse_header_lines ($) {
    my @out;
    for my $line (split /\n/, shift // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) { push @out, [$line, undef] }
        else                    { push @out, [split /\s*:\s*/, $line, 2] }
    }
    return @out;
}

sub check_response_headers ($$$$$) {
    my ($block, $res, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->response_headers) {
        for my $h (parse_header_lines(get_indexed_value($name, $block->response_headers, $req_idx, $need_array))) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            Test::More::is(($res ? $res->header($key) : undef) // '', $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {   # only if no response_headers, as in the real one
        for my $h (parse_header_lines(get_indexed_value($name, $block->response_headers_like, $req_idx, $need_array))) {
            my ($key, $val) = @$h;
            $val //= '';
            Test::More::like(($res ? $res->header($key) : undef) // '', qr/^$val$/,
                             "$name - header $key like ok");
        }
    }
}

sub check_response_body ($$$$$$) {
    my ($block, $res, $dry_run, $req_idx, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;
    if (defined $block->response_body) {
        my $expected = get_indexed_value($name, $block->response_body, $req_idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        if (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $repeated_req_idx, req $req_idx)");
        } else {
            Test::More::is($content, $expected,
                "$name - response_body - response is expected (repeated req $repeated_req_idx, req $req_idx)");
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $pat = get_indexed_value($name, $block->${\"response_body_$type"}, $req_idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        my $summary = trim($content) // '';
        my $cmp = $type eq 'like' ? \&Test::More::like : \&Test::More::unlike;
        $cmp->($content, qr/$pat/s, "$name - response_body_$type - response is expected ($summary)");
    }
    $_->($block, $content, $req_idx, $repeated_req_idx, $dry_run) for @ResponseBodyChecks;
}

# ---- log checks ----

# Patterns: a string (one substring per line), a qr//, or an ARRAY of both.
sub pattern_list ($) {
    my $pats = shift;
    if (!ref $pats) { chomp $pats; return split /\n+/, $pats }
    return ref $pats eq 'Regexp' ? ($pats) : @$pats;
}

sub line_matches ($$) {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ /$pat/ : index($line, $pat) >= 0;
}

sub fmt_str ($) {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g; $s =~ s/\r/\\r/g; $s =~ s/\n/\\n/g;
    return $s;
}

# As the real one: a pattern that must not match fails once for every line
# it matches.
sub check_patterns ($$$$$) {
    my ($name, $file, $want, $lines, $ridx) = @_;
    for my $pat (grep { defined } pattern_list($want->{pats})) {
        my @hits = grep { line_matches($_, $pat) } @$lines;
        if ($want->{present}) {
            Test::More::ok(scalar @hits, @hits
                ? "$name - pattern \"$pat\" matches a line in $file (req $ridx)"
                : "$name - pattern \"$pat\" should match a line in $file (req $ridx)");
            next;
        }
        my $p = fmt_str($pat);
        Test::More::pass("$name - pattern \"$p\" does not match a line in $file (req $ridx)")
            unless @hits;
        Test::More::fail("$name - pattern \"$p\" should not match any line in $file but matches line \"" . fmt_str($_) . "\" (req $ridx)")
            for @hits;
    }
}

sub check_error_log ($$$$$) {
    my ($block, $res, $dry_run, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    my $lines;

    my $grep_pat = $block->grep_error_log;
    $grep_pat = $grep_pat->[$repeated_req_idx] if ref $grep_pat eq 'ARRAY';
    bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined")
        if !defined $grep_pat && defined $block->grep_error_log_out;
    if (defined $grep_pat) {
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $expected;
        $expected = $expected->[$repeated_req_idx] if ref $expected eq 'ARRAY';
        $lines ||= error_log_data();
        my $matched = '';
        for my $line (@$lines) {
            next unless ref $grep_pat ? $line =~ /$grep_pat/ : $line =~ /\Q$grep_pat\E/;
            $matched .= "$&\n" if $& !~ /\n/;
        }
        is_str($matched, $expected, "$name - grep_error_log_out (req $repeated_req_idx)");
    }

    for my $s (['error_log', 1], ['no_error_log', 0]) {
        my $pats = $block->${\$s->[0]};
        next unless defined $pats;
        $lines ||= error_log_data();
        check_patterns($name, 'error.log', { pats => $pats, present => $s->[1] }, $lines, $repeated_req_idx);
    }
    for my $s (['access_log', 1], ['no_access_log', 0]) {
        my $pats = $block->${\$s->[0]};
        next unless defined $pats;
        check_patterns($name, 'access.log', { pats => $pats, present => $s->[1] },
                       access_log_data(), $repeated_req_idx);
    }
}

# ---- the tiny response object handed to the checks ----

package Test::Nginx::Socket::Response;

sub code    { $_[0]{code} }
sub content { $_[0]{content} }

# Like HTTP::Headers: case-insensitive; repeated headers joined with ", ".
sub header {
    my ($self, $key) = @_;
    my $vals = $self->{headers}{lc $key} or return undef;
    return join ', ', @$vals;
}

1;
