package ZT::Redis;

# A private redis-server for the test file that needs one: on its own port
# ($TEST_NGINX_REDIS_PORT, default 16379) with its own data directory
# ($TEST_NGINX_REDIS_DIR, default t/servroot-redis-PORT), started empty and
# stopped when the file ends, pass, fail or die.  A server an interrupted
# run left behind is found by its pid file and stopped first; a port that
# something else holds is an error, never shared.
#
#   use ZT::Redis;
#   ZT::Redis::start();         # before run_tests()
#
# In the configuration: zt_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
# stop(), pause() (SIGSTOP), resume() and start() again (its data is kept,
# as a restarted Redis keeps it) are for the tests of Redis failing.

use strict;
use warnings;

use File::Path ();
use IO::Socket::INET ();
use Time::HiRes ();
use ZT::Test ();

my $Owner = $$;
my ($Started, $Fresh) = (0, 0);

sub port {
    return $ENV{TEST_NGINX_REDIS_PORT} ||= 16379;
}

sub dir {
    return $ENV{TEST_NGINX_REDIS_DIR}
           ||= ZT::Test::top() . '/t/servroot-redis-' . port();
}

sub pid {
    open my $fh, '<', dir() . '/redis.pid' or return undef;
    my $pid = <$fh>;

    return $pid && $pid =~ /(\d+)/ ? $1 : undef;
}

sub ping {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port(),
                                  Proto => 'tcp', Timeout => 1)
        or return undef;

    print $s "PING\r\n";
    my $line = <$s> // '';
    close $s;

    return $line =~ /^\+PONG/ ? 1 : 0;
}

sub wait_gone {
    my ($pid) = @_;

    for (1 .. 200) {
        return 1 unless ZT::Test::alive($pid);
        Time::HiRes::sleep(0.025);
    }

    return 0;
}

sub stop {
    my $pid = pid() or return;

    if (ZT::Test::alive($pid)) {
        kill 'CONT', $pid;
        kill 'TERM', $pid;
        wait_gone($pid) or kill 'KILL', $pid;
    }

    unlink dir() . '/redis.pid';
}

sub pause {
    my $pid = pid() or return;
    kill 'STOP', $pid;
}

sub resume {
    my $pid = pid() or return;
    kill 'CONT', $pid;
}

sub running {
    my $pid = pid();
    return $pid && ZT::Test::alive($pid);
}

# The first start of a file begins from an empty data directory; a start
# after stop() finds what the server had written (appendonly).
sub start {
    my $dir = dir();
    my $port = port();

    stop();

    if (!$Fresh) {
        File::Path::remove_tree($dir);
        $Fresh = 1;
    }

    File::Path::make_path($dir);

    if (defined ping()) {
        die "ZT::Redis: port $port is in use by another process; set"
            . " TEST_NGINX_REDIS_PORT to a free one\n";
    }

    # not under test: no sanitizer preloaded into it
    local $ENV{LD_PRELOAD};

    system('redis-server', '--port', $port, '--bind', '127.0.0.1',
           '--dir', $dir, '--daemonize', 'yes',
           '--pidfile', "$dir/redis.pid", '--logfile', "$dir/redis.log",
           '--save', '', '--appendonly', 'yes') == 0
        or die "ZT::Redis: redis-server did not start (see $dir/redis.log)\n";

    for (1 .. 200) {
        if (ping() && pid()) {
            register() unless $Started++;
            return $port;
        }
        Time::HiRes::sleep(0.025);
    }

    die "ZT::Redis: redis-server on port $port does not answer"
        . " (see $dir/redis.log)\n";
}

sub cleanup {
    return unless $Started && $$ == $Owner;
    stop();
    $Started = 0;
}

# the runner's cleanup runs on SIGINT/SIGTERM too, where END does not
sub register {
    Test::Nginx::Util::add_cleanup_handler(\&cleanup)
        if defined &Test::Nginx::Util::add_cleanup_handler;
}

END { local $?; cleanup() }

1;
