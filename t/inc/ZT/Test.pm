package ZT::Test;

# What every test file loads first, before Test::Nginx::Socket: it tells
# the runner (openresty's Test::Nginx, or the compatible one of t/lib that
# only scripts/test.sh puts on the path) which nginx and which modules to
# run, so that a plain `prove -r t/` works after `make`.  The runner reads
# these settings when it is loaded, hence the order:
#
#   use lib 't/inc';
#   use ZT::Test;
#   use Test::Nginx::Socket 'no_plan';
#
# Environment, all optional:
#   ZT_MODULE                the module (build/ngx_http_zt_inference_module.so)
#   TEST_NGINX_BINARY        nginx: the one `make NGINX_SRC=...` built beside
#                            the module (BUILD/sbin/nginx), else the first
#                            nginx on PATH, else /usr/sbin/nginx
#   ZT_ECHO_MODULE           the echo module: the one built beside the module,
#                            else Debian's
#   TEST_NGINX_LOAD_MODULES  when set, used as it is
#   TEST_NGINX_REDIS_TIMEOUT zt_redis timeout= where a file writes it
#                            (default 200ms, the module's)
#   ZT_TIME_SCALE            a factor for "--- raw_request_middle_delay", for
#                            an nginx that runs that much slower (valgrind):
#                            a body sent "later" must still come after nginx
#                            has read the header
#
# Debug-log checks: a block's "--- debug_log" and "--- no_debug_log" take
# the patterns of "--- error_log" and "--- no_error_log" for lines that only
# an nginx built --with-debug writes (ngx_log_debug).  They are checked as
# those when the nginx under test has --with-debug, and skipped otherwise.

use strict;
use warnings;

use Cwd ();
use File::Basename ();
use File::Spec ();
use POSIX ();

our $Top = Cwd::abs_path(File::Basename::dirname(__FILE__) . '/../../..');

our ($Binary, $Module, $Debug);

sub find_binary {
    my ($build) = @_;

    return "$build/sbin/nginx" if -x "$build/sbin/nginx";

    for my $dir (File::Spec->path) {
        return "$dir/nginx" if -x "$dir/nginx" && !-d "$dir/nginx";
    }

    return '/usr/sbin/nginx';
}

# "nginx -V" names --with-debug among its configure arguments
sub nginx_has_debug {
    my ($bin) = @_;
    my $out = `"$bin" -V 2>&1`;

    die "ZT::Test: cannot run $bin -V\n" if $? != 0;

    return $out =~ /--with-debug\b/ ? 1 : 0;
}

sub setup {
    die "ZT::Test: use ZT::Test before Test::Nginx::Socket: the runner reads"
        . " TEST_NGINX_BINARY and TEST_NGINX_LOAD_MODULES when it loads\n"
        if $INC{'Test/Nginx/Socket.pm'} || $INC{'Test/Nginx/Util.pm'};

    $Module = $ENV{ZT_MODULE}
              || "$Top/build/ngx_http_zt_inference_module.so";
    $Module = File::Spec->rel2abs($Module, $Top);

    my $build = File::Basename::dirname($Module);

    $Binary = $ENV{TEST_NGINX_BINARY} ||= find_binary($build);
    $Debug = nginx_has_debug($Binary);

    if (!defined $ENV{TEST_NGINX_LOAD_MODULES}) {
        -f $Module
            or die "ZT::Test: no module at $Module: build it first (make)"
                   . " or set ZT_MODULE\n";

        my $echo = $ENV{ZT_ECHO_MODULE};

        if (!defined $echo && -f "$build/ngx_http_echo_module.so") {
            $echo = "$build/ngx_http_echo_module.so";

        } elsif (!defined $echo) {
            # Debian's loads only into Debian's nginx
            die "ZT::Test: no echo module for $Binary: build it beside the"
                . " module (make NGINX_SRC=... ECHO_SRC=...) or set"
                . " ZT_ECHO_MODULE\n"
                if $Binary eq "$build/sbin/nginx";

            $echo = '/usr/lib/nginx/modules/ngx_http_echo_module.so';
        }

        $ENV{TEST_NGINX_LOAD_MODULES} = "$Module $echo";
    }

    $ENV{TEST_NGINX_DATA_DIR} ||= "$Top/t/data";

    # zt_redis timeout= for blocks that test approvals, not timeouts: the
    # module's 200 ms, longer for an nginx under valgrind (scripts/test.sh)
    $ENV{TEST_NGINX_REDIS_TIMEOUT} ||= '200ms';
}

# "use ZT::Test;" also loads the runner, without importing anything (the
# test file's own "use Test::Nginx::Socket" does), to give it the debug-log
# sections; "use ZT::Test ();" only sets the environment
sub import {
    require Test::Nginx::Socket;

    Test::Nginx::Util::add_block_preprocessor(\&debug_log_checks);
    Test::Nginx::Util::add_block_preprocessor(\&time_scale);
}

sub patterns {
    my ($p) = @_;

    return () unless defined $p;
    return @$p if ref $p eq 'ARRAY';
    return ($p) if ref $p;

    return grep { length } split /\n+/, $p;
}

sub section {
    my ($block, $name) = @_;

    return $block->can($name) ? scalar $block->$name : undef;
}

sub debug_log_checks {
    my ($block) = @_;

    for my $s (['debug_log', 'error_log'], ['no_debug_log', 'no_error_log']) {
        my ($from, $to) = @$s;
        my @debug = patterns(section($block, $from));

        next unless @debug && $Debug;

        $block->set_value($to, [patterns(section($block, $to)), @debug]);
    }
}

sub time_scale {
    my ($block) = @_;
    my $scale = $ENV{ZT_TIME_SCALE} or return;
    my $delay = section($block, 'raw_request_middle_delay');

    return unless defined $delay && $delay =~ /^([\d.]+)(ms|s)?$/;

    $block->set_value('raw_request_middle_delay',
                      $1 * $scale . ($2 // ''));
}


# Daemons the tests start (nginx "daemon on", redis-server --daemonize)
# become orphans once they fork.  An orphan that exits stays a zombie until
# its new parent reaps it, and "kill 0" calls a zombie alive: where PID 1
# reaps late (some containers: once a second), openresty's runner, which
# waits with "kill 0" for nginx to quit, spends a second or two on every
# block.  As the subreaper of its descendants (Linux PR_SET_CHILD_SUBREAPER)
# the test process adopts them, the runner's waitpid(WNOHANG) reaps nginx
# at once, and alive() reaps what it asks about.
my %Prctl = ('x86_64' => 157, 'aarch64' => 167);

sub adopt_orphans {
    my ($arch) = $^O eq 'linux' ? (POSIX::uname())[4] : ();
    my $nr = $arch ? $Prctl{$arch} : undef;

    syscall($nr, 36, 1, 0, 0, 0) if defined $nr;    # PR_SET_CHILD_SUBREAPER
}

# true while $pid runs: a zombie of ours is reaped and counts as gone
sub alive {
    my ($pid) = @_;

    waitpid($pid, POSIX::WNOHANG());

    return kill 0, $pid;
}

# true when the nginx under test writes debug-level lines
sub debug_build { return $Debug }

sub top { return $Top }

setup();
adopt_orphans();

1;
