package ZT::Nginx;

# A second nginx beside the one Test::Nginx runs, for the blocks about
# several gateways: its own root under the test file's server root, the
# same nginx and modules, two workers, and the body of its http {} block
# as given.  Stopped by stop(), and when the test file ends.  It runs with
# "daemon off" from a child of this process: a daemonizing nginx leaves a
# parent that exits holding the whole configuration, which valgrind would
# report as the module's leak under make test-valgrind.
#
#   use ZT::Nginx;
#   my $port = ZT::Nginx::free_port();
#   ZT::Nginx::start('second', $port, "server { listen 127.0.0.1:$port; }");

use strict;
use warnings;

use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();
use ZT::Test ();

my %Started;
my $Owner = $$;

# a TCP port nobody listens on now
sub free_port {
    for (1 .. 100) {
        my $try = 20000 + int rand 20000;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $try, Listen => 1,
                                      Proto => 'tcp', ReuseAddr => 1)
            or next;
        close $s;
        return $try;
    }

    die "ZT::Nginx: no free port\n";
}

sub root {
    my ($name) = @_;
    my $base = $ENV{TEST_NGINX_SERVROOT} || ZT::Test::top() . '/t/servroot';
    return "$base-$name";
}

sub start {
    my ($name, $port, $http) = @_;
    my $root = root($name);
    my $modules = join '', map { "load_module $_;\n" }
                           split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '';
    my $user = $> == 0 ? 'user root;' : '';

    stop($name);
    mkdir $root;
    mkdir "$root/$_" for qw(conf logs html);

    open my $out, '>', "$root/conf/nginx.conf" or die "ZT::Nginx: $!\n";
    print $out <<"_EOC_";
$modules
$user
worker_processes 2;
daemon off;
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
    my $pid = fork;
    die "ZT::Nginx: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        exec($bin, '-p', "$root/", '-c', "$root/conf/nginx.conf",
             '-e', "$root/logs/error.log")
            or POSIX::_exit(1);
    }

    $Started{$name} = 1;

    for (1 .. 1200) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            delete $Started{$name};
            die "ZT::Nginx: the nginx \"$name\" did not start"
                . " (see $root/logs/error.log)\n";
        }

        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        if ($s) { close $s; return }
        Time::HiRes::sleep(0.025);
    }

    die "ZT::Nginx: the nginx \"$name\" does not listen on $port\n";
}

sub stop {
    my ($name) = @_;

    delete $Started{$name};

    open my $fh, '<', root($name) . '/logs/nginx.pid' or return;
    my $pid = <$fh>;
    return unless $pid && $pid =~ /(\d+)/;

    kill 'QUIT', $1;

    for (1 .. 200) {
        return unless ZT::Test::alive($1);
        Time::HiRes::sleep(0.025);
    }

    kill 'KILL', $1;
}

END {
    local $?;
    if ($$ == $Owner) { stop($_) for keys %Started }
}

1;
