# Every message on the <prefix>approvals and <prefix>grants channels is
# one valid JSON object (UTF-8), whatever bytes the request held: a URI
# with \xff\xfe, invalid and surrogate UTF-8 sequences, a subject with
# quotes, backslashes, control characters and U+2028.  They are escaped as
# the audit line escapes them (invalid UTF-8 becomes U+FFFD).
#
# The test subscribes to both channels itself (a socket speaking RESP)
# before the first block and reads what was published in the last one.
use lib 't/inc';
use ZT::Test;
use Test::Nginx::Socket 'no_plan';
use ZT::Token;
use ZT::Redis;
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use Time::HiRes ();

no_shuffle();
repeat_each(1);
workers(1);

our $Odd = "q\"u\\o\x01te\x7f \x{e9}\x{2028}-" . time . "-$$";
our $OddToken = ZT::Token::mint(
    claims => { sub => $Odd, scope => 'inference:invoke' }, exp_in => 3600);
# a subject a grant can name (no control characters)
our $Grantee = "q\"u\\o te \x{e9}\x{2028}-" . time . "-$$";
our $Rita = ZT::Token::mint(
    claims => { sub => 'rita', scope => 'zt:review' }, exp_in => 3600);

our $Reason = "ok \" \\ \x01 \x{2028} \x{e9}";

# raw bytes on the request line: invalid UTF-8 of several kinds
our $Uri = "/v1/chat\xff\xfe/x?y=\xc3\x28&z=\xed\xa0\x80&n=" . time . $$;
(our $UriSeen = $Uri) =~ s/\xff|\xfe|\xc3|\xed|\xa0|\x80/\x{fffd}/g;
our $Body = '{"prompt":"needs approval"}';

our %Id;

add_response_body_check(sub {
    my ($block, $body) = @_;
    my $name = $block->capture or return;
    $Id{$name} = $1 if $body =~ /"id":"([0-9a-f]{32})"/;
});

add_block_preprocessor(sub {
    my $block = shift;
    for my $section (qw(request raw_request more_headers)) {
        my $v = $block->$section;
        next unless defined $v && !ref $v;
        $v =~ s/%%(\w+)%%/defined $Id{$1} ? $Id{$1} : "no-id-$1"/ge;
        $block->set_value($section, $v);
    }
});

sub raw_with {
    my ($extra) = @_;
    return "POST $::Uri HTTP/1.1\r\nHost: localhost\r\n"
         . "Authorization: Bearer $::OddToken\r\n$extra"
         . "Content-Length: " . length($::Body) . "\r\n"
         . "Connection: close\r\n\r\n$::Body";
}

# ---- a Redis subscriber ----

our $Redis;
my $Buf = '';

sub subscribe {
    $Redis = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => ZT::Redis::port(),
                                   Proto => 'tcp')
        or die "cannot connect to redis: $!\n";
    print $Redis "SUBSCRIBE zt057:approvals zt057:grants\r\n";
    resp(2) for 1 .. 2;
}

sub fill {
    my ($wait) = @_;
    my $sel = IO::Select->new($Redis);
    return 0 unless $sel->can_read($wait);
    my $n = sysread($Redis, $Buf, 65536, length $Buf);
    return $n ? 1 : 0;
}

sub line {
    my ($wait) = @_;
    until ($Buf =~ /\r\n/) { fill($wait) or return undef }
    $Buf =~ s/^(.*?)\r\n//s;
    return $1;
}

# one RESP value, or undef when nothing came within $wait seconds
sub resp {
    my ($wait) = @_;
    my $l = line($wait);
    return undef unless defined $l;
    my ($t, $v) = (substr($l, 0, 1), substr($l, 1));
    return $v if $t eq '+' || $t eq ':';
    if ($t eq '$') {
        return undef if $v < 0;
        while (length $Buf < $v + 2) { fill($wait) or die "short bulk\n" }
        my $s = substr($Buf, 0, $v);
        substr($Buf, 0, $v + 2) = '';
        return $s;
    }
    if ($t eq '*') {
        return [map { resp($wait) } 1 .. $v];
    }
    die "unexpected RESP: $l\n";
}

# every message published since subscribing: [channel, payload bytes]
sub messages {
    my @m;
    while (defined(my $r = resp(1))) {
        push @m, [$r->[1], $r->[2]] if ref $r && $r->[0] eq 'message';
    }
    return @m;
}

# --- notifications: the checks of the last block
add_response_body_check(sub {
    my ($block) = @_;
    $block->notifications or return;

    my @m = messages();
    my $json = JSON::PP->new->utf8;
    my @got;

    for my $m (@m) {
        my $o = eval { $json->decode($m->[1]) };
        Test::More::ok($o && ref $o eq 'HASH',
                       "a message on $m->[0] is one JSON object: "
                       . ($@ || 'ok'));
        push @got, [$m->[0], $o || {}];
    }

    Test::More::is(join(' ', map { $_->[1]{status} // $_->[1]{event} // '?' } @got),
                   'pending approved consumed pending denied pending expired grant revoke',
                   'the messages, in order');

    my ($pending, $approved) = map { $_->[1] } @got[0, 1];
    Test::More::is($pending->{uri}, $::UriSeen,
                   'the URI, invalid UTF-8 as U+FFFD');
    Test::More::is($pending->{sub}, $::Odd, 'the subject, unchanged');
    Test::More::is($pending->{id}, $Id{one}, 'the id');
    Test::More::is($approved->{reason}, $::Reason, 'the reason, unchanged');
    Test::More::is($approved->{by}, 'rita', 'the reviewer');
    Test::More::is($got[2][1]{by}, 'rita', 'consumed names the approver');
    Test::More::is($got[7][1]{sub}, $::Grantee, 'the grant names the subject');
    Test::More::is($got[7][1]{reason}, $::Reason, 'the grant names the reason');
    Test::More::is($got[8][1]{scope}, 'models:large', 'the revocation names the scope');
});

add_cleanup_handler(sub { close $Redis if $Redis });

ZT::Redis::start();
run_tests();

__DATA__

=== TEST 1: a request with raw bytes in its URI, of a subject with quotes and control characters, is parked
--- http_config
    zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=zt057:;
    zt_jwks_file $TEST_NGINX_DATA_DIR/jwks.json;
    zt_issuer https://issuer.zt.test;
--- config
    location /v1/ {
        zt_policy approve scope=inference:invoke "body~needs approval";
        zt_policy allow   scope=inference:invoke;
        echo FORWARDED;
    }
    location /short/ {
        zt_approval_ttl 1s;
        zt_policy approve scope=inference:invoke;
        echo FORWARDED;
    }
    location /zt/ {
        zt_policy allow scope=zt:review;
        zt_approval_api;
    }
--- init
main::subscribe();
--- raw_request eval
main::raw_with('')
--- capture: one
--- error_code: 202



=== TEST 2: approved, with a reason that is not plain ASCII
--- request eval
"POST /zt/approvals/%%one%%/approve\n" . JSON::PP->new->ascii->encode({ reason => $::Reason })
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200



=== TEST 3: the retry is forwarded (consumed)
--- raw_request eval
main::raw_with("X-ZT-Approval: %%one%%\r\n")
--- error_code: 200



=== TEST 4: another request is parked ...
--- request eval
"POST /v1/chat\n$::Body"
--- more_headers eval
"Authorization: Bearer $::OddToken"
--- capture: two
--- error_code: 202



=== TEST 5: ... and denied
--- request
POST /zt/approvals/%%two%%/deny
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200



=== TEST 6: one more is parked for a second ...
--- request
POST /short/x
{"prompt":"short"}
--- more_headers eval
"Authorization: Bearer $::OddToken"
--- error_code: 202



=== TEST 7: ... and a listing expires it
--- init
Time::HiRes::sleep(1.5);
--- request
GET /zt/approvals
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200



=== TEST 8: a grant for the odd subject, and its revocation
--- request eval
my $enc = sub { (my $s = shift) =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge; $s };
my $sub = $::Grantee;
utf8::encode($sub);
["POST /zt/grants\n" . JSON::PP->new->ascii->encode({ sub => $::Grantee, scope => 'models:large', ttl => 60, reason => $::Reason }),
 "DELETE /zt/grants?sub=" . $enc->($sub) . "&scope=models%3Alarge"]
--- more_headers eval
["Authorization: Bearer $::Rita", "Authorization: Bearer $::Rita"]
--- error_code eval
[201, 200]



=== TEST 9: every message published was one JSON object, with the values escaped, not lost
--- request
GET /zt/approvals
--- more_headers eval
"Authorization: Bearer $::Rita"
--- error_code: 200
--- notifications: 1
