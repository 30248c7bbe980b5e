package ZT::Redis;

# The suite's Redis (scripts/redis.sh) seen from a test: stopped, paused
# (SIGSTOP), resumed and started again, asked directly (redis-cli); and a
# second nginx that shares it, for the blocks about several gateways.
#
#   use ZT::Redis;
#   ZT::Redis::pause(); ... ZT::Redis::resume();
#   ZT::Redis::cli('HGETALL', 'zt:usage:u:alice:d');
#   ZT::Redis::nginx_start($name, $port, $http_block_body);
#
# Whatever a block does to Redis, restore() (registered as a cleanup
# handler by the tests that use it) leaves it running and not paused.

use strict;
use warnings;

use IO::Socket::INET ();
use Time::HiRes ();

sub port { $ENV{TEST_NGINX_REDIS_PORT} || 16379 }

sub dir { $ENV{TEST_NGINX_REDIS_DIR} || '/tmp/zt-redis-' . port() }

sub pid {
    open my $fh, '<', dir() . '/redis.pid' or return undef;
    my $pid = <$fh>;
    return $pid && $pid =~ /(\d+)/ ? $1 : undef;
}

sub pause  { my $pid = pid() or return; kill 'STOP', $pid }
sub resume { my $pid = pid() or return; kill 'CONT', $pid }

sub stop {
    my $pid = pid() or return;
    kill 'CONT', $pid;
    kill 'TERM', $pid;
    for (1 .. 200) {
        last unless kill 0, $pid;
        Time::HiRes::sleep(0.05);
    }
}

sub start {
    system('sh', 'scripts/redis.sh', 'start') == 0
        or die "ZT::Redis: the suite's redis-server did not start\n";
}

sub restore {
    resume();
    my $pid = pid();
    start() unless $pid && kill 0, $pid;
}

# one command, its output as redis-cli prints it (raw)
sub cli {
    my @args = @_;
    open my $fh, '-|', 'redis-cli', '--raw', '-p', port(), @args
        or die "ZT::Redis: cannot run redis-cli: $!\n";
    local $/;
    my $out = <$fh>;
    close $fh;
    return $out // '';
}

# a TCP port nobody listens on, for a second nginx
sub free_port {
    for (1 .. 100) {
        my $try = 20000 + int rand 20000;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $try, Listen => 1,
                                      Proto => 'tcp') or next;
        close $s;
        return $try;
    }
    die "ZT::Redis: no free port\n";
}

sub nginx_root { my ($name) = @_; return dir() . "/nginx-$name" }

# a second nginx: its own root under the Redis directory, the suite's
# modules, two workers, and the given body of its http {} block
sub nginx_start {
    my ($name, $port, $http) = @_;
    my $root = nginx_root($name);
    my $modules = join '', map { "load_module $_;\n" }
                           split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '';
    my $user = $> == 0 ? 'user root;' : '';

    nginx_stop($name);
    mkdir $root;
    mkdir "$root/$_" for qw(conf logs html);

    open my $out, '>', "$root/conf/nginx.conf" or die $!;
    print $out <<"_EOC_";
$modules
$user
worker_processes 2;
daemon on;
master_process on;
error_log $root/logs/error.log info;
pid $root/logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $root/client_body_temp;
    proxy_temp_path $root/proxy_temp;
    fastcgi_temp_path $root/fastcgi_temp;
    uwsgi_temp_path $root/uwsgi_temp;
    scgi_temp_path $root/scgi_temp;
$http
}
_EOC_
    close $out;

    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    system($bin, '-p', "$root/", '-c', "$root/conf/nginx.conf",
           '-e', "$root/logs/error.log") == 0
        or die "ZT::Redis: the second nginx \"$name\" did not start\n";

    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        if ($s) { close $s; last }
        Time::HiRes::sleep(0.05);
    }
}

sub nginx_stop {
    my ($name) = @_;
    open my $fh, '<', nginx_root($name) . '/logs/nginx.pid' or return;
    my $pid = <$fh>;
    return unless $pid && $pid =~ /(\d+)/;
    kill 'QUIT', $1;
    for (1 .. 100) {
        last unless kill 0, $1;
        Time::HiRes::sleep(0.05);
    }
}

1;
