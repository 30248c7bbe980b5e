package Test::Nginx::Util;

# Server-side half of the small Test::Nginx stand-in (see Socket.pm for the
# overview): settings, nginx.conf generation, starting/stopping nginx, user
# files and error-log access.  Names of functions and package variables follow
# the real Test::Nginx::Util so test files can use either implementation.

use strict;
use warnings;
use base 'Exporter';

use File::Path qw(make_path remove_tree);
use File::Spec ();
use List::Util qw(shuffle);
use POSIX qw(WNOHANG);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);
use Test::More ();

our @EXPORT = qw(
    run_tests run_test repeat_each no_shuffle workers master_on master_off
    master_process_enabled log_level worker_connections env_to_nginx
    add_block_preprocessor add_cleanup_handler no_root_location
    config_preamble server_name server_addr server_port
    server_port_for_client html_dir server_root timeout
    check_accum_error_log no_long_string is_str bail_out use_hup parse_time
    error_log_data access_log_data trim
    $ServRoot $ServerPort $ServerPortForClient $ServerAddr $ServerName
    $NoLongString $RepeatEach $ConfFile $PidFile
    $RunTestHelper $CheckErrorLog
);

# ---- settings (same environment variables and defaults as the real one) ----
our $RepeatEach          = 1;
our $NoShuffle           = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $Workers             = $ENV{TEST_NGINX_WORKERS} || 1;   # project extension
our $WorkerConnections   = 64;
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $LogLevel            = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $ServerPort          = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $ServerAddr          = '127.0.0.1';
our $ServerName          = 'localhost';
our $Timeout             = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep      = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $NginxBinary         = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules         = $ENV{TEST_NGINX_LOAD_MODULES} || '';
our $CheckAccumErrLog    = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our ($NoRootLocation, $NoLongString, $ConfigPreamble) = (0, undef, '');
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers);
our ($RunTestHelper, $CheckErrorLog);   # set by Test::Nginx::Socket

our $ServRoot   = $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $StderrFile = "$LogDir/nginx.stderr";   # not in the real one: nginx's stderr

our ($ChildPid, $PrevConfig, $ErrLogFilePos, $IncludeStderr) = (undef, undef, 0, 0);
my $MainPid = $$;

# ---- setters/getters: with an argument they set, without they return ----
sub repeat_each (@)            { $RepeatEach = shift if @_; $RepeatEach }
sub workers (@)                { @_ ? ($Workers = shift) : $Workers }
sub worker_connections (@)     { @_ ? ($WorkerConnections = shift) : $WorkerConnections }
sub log_level (@)              { @_ ? ($LogLevel = shift) : $LogLevel }
sub server_name (@)            { @_ ? ($ServerName = shift) : $ServerName }
sub server_addr (@)            { @_ ? ($ServerAddr = shift) : $ServerAddr }
sub server_port (@)            { @_ ? ($ServerPort = shift) : $ServerPort }
sub server_port_for_client (@) { @_ ? ($ServerPortForClient = shift) : $ServerPortForClient }
sub timeout (@)                { @_ ? ($Timeout = shift) : $Timeout }
sub master_process_enabled (@) { @_ ? ($MasterProcessEnabled = $_[0] ? 'on' : 'off') : $MasterProcessEnabled }
sub master_on ()               { $MasterProcessEnabled = 'on' }
sub master_off ()              { $MasterProcessEnabled = 'off' }
sub no_shuffle ()              { $NoShuffle = 1 }
sub no_root_location ()        { $NoRootLocation = 1 }
sub no_long_string ()          { $NoLongString = 1 }
sub check_accum_error_log ()   { $CheckAccumErrLog = 1 }
sub config_preamble ($)        { $ConfigPreamble = shift }
sub use_hup ()                 { warn "use_hup() is not supported by this runner; ignored\n" }
sub html_dir ()                { $HtmlDir }
sub server_root ()             { $ServRoot }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }

sub env_to_nginx (@) {
    die "env_to_nginx: no arguments specified\n" unless @_;
    for my $v (@_) {
        die "env_to_nginx: bad argument value: $v\n" if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc) if ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc);
}

# "50ms" -> 0.05, "2s" -> 2, "2" -> 2
sub parse_time ($) {
    my $t = shift;
    return $t unless defined $t;
    return $1 / 1000 if $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return $1 if $t =~ /^\s*([\d.]+)\s*s?\s*$/;
    return $t;
}

sub trim ($) {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\s+/ /g;
    return $s;
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---- nginx process management ----

sub is_running { my $pid = shift; return $pid && kill(0, $pid) }

# Start nginx in the foreground as our child (own process group).  Returns 1
# once its pid file names it (listening sockets are bound by then), or
# (0, $wait_status) if it exited first.
sub start_nginx ($) {
    my $name = shift;
    unlink $PidFile;
    my $pid = fork;
    bail_out("$name - fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $StderrFile;
        # -e: messages before error_log is read go to error.log, as with
        # a stock nginx build (Debian's build defaults them to stderr).
        exec $NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile, '-e', $ErrLogFile;
        warn "exec $NginxBinary failed: $!\n";
        POSIX::_exit(127);
    }
    $ChildPid = $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            undef $ChildPid;
            return (0, $?);
        }
        if (open my $fh, '<', $PidFile) {
            my $got = <$fh>;
            return 1 if defined $got && $got =~ /^\s*(\d+)/ && $1 == $pid;
        }
        sleep 0.002;
    }
    stop_nginx($name);
    return (0, -1);
}

# QUIT (graceful), wait up to timeout(), then KILL the whole process group.
sub stop_nginx (;$) {
    my $name = shift // 'cleanup';
    my $pid = $ChildPid // return;
    undef $ChildPid;
    local $?;
    kill 'QUIT', $pid;
    my $deadline = time + $Timeout;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            warn "$name - nginx $pid did not quit in time; killing it\n";
            kill 'KILL', -$pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.002;
    }
    kill 'KILL', -$pid;   # stray workers, if any (normally none left)
}

sub kill_stale_nginx () {   # left over from an interrupted earlier run
    open my $fh, '<', $PidFile or return;
    my $pid = <$fh> // '';
    return unless $pid =~ /^\s*(\d+)/ && is_running($1);
    warn "killing stale nginx $1 found in $PidFile\n";
    kill 'QUIT', $1;
    my $deadline = time + $Timeout;
    sleep 0.01 while is_running($1) && time < $deadline;
    kill 'KILL', $1 if is_running($1);
}

sub cleanup () {
    return unless $$ == $MainPid;
    $_->() for @CleanupHandlers;
    stop_nginx();
}

END { cleanup() }

# ---- files under the server root ----

sub setup_server_root () {
    remove_tree($ConfDir, $HtmlDir, $LogDir, glob("$ServRoot/*_temp"));
    make_path($ConfDir, $HtmlDir, $LogDir);
    open my $out, '>', "$HtmlDir/index.html" or bail_out("cannot write index.html: $!");
    print $out "<html><head><title>It works!</title></head><body>It works!</body></html>";
    close $out;
}

# Replace $TEST_NGINX_FOO with $ENV{TEST_NGINX_FOO}; unset ones abort the run.
sub expand_env_in_text ($$) {
    my ($text, $name) = @_;
    return undef unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        defined $ENV{$1} or bail_out("$name - No environment $1 defined.\n");
        $ENV{$1};
    }ge;
    return $text;
}

sub write_user_files ($) {
    my $block = shift;
    my $name = $block->name;
    my $files = $block->user_files or return;
    if (!ref $files) {           # ">>> name" lines, each followed by its content
        my @list;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)/)           { push @list, [$1, ''] }
            elsif (@list)                       { $list[-1][1] .= $line }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - --- user_files must be a string or an ARRAY");
    }
    for my $f (@$files) {
        my ($fname, $body) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        open my $out, '>', $path or bail_out("$name - cannot write $path: $!");
        binmode $out;
        print $out expand_env_in_text($body // '', $name);
        close $out;
    }
}

sub write_config_file ($$) {
    my ($block, $config) = @_;
    my $name = $block->name;
    my %s = map { $_ => expand_env_in_text($block->$_, $name) // '' }
            qw(main_config http_config post_main_config);
    my $err_log = $block->error_log_file || $ErrLogFile;
    (my $server_name = $block->server_name // $ServerName) =~ s/(['\\])/\\$1/g;
    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" }
                       qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS), @EnvToNginx;
    my $modules = join '', map { "load_module $_;\n" } split ' ', $LoadModules;
    # as the real one: no temp path the test sets itself or nginx lacks
    my $nginx_v = `$NginxBinary -V 2>&1`;
    my $temp = join '', map { "    ${_}_temp_path $ServRoot/${_}_temp;\n" }
                        grep { /^(?:client_body|proxy)$/
                               ? $s{http_config} !~ /\b${_}_temp_path\b/
                               : $nginx_v !~ /--without-http_${_}_module/ }
                        qw(client_body proxy fastcgi uwsgi scgi);
    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    my $user = $> == 0 ? "user root;\n" : '';

    open my $out, '>', $ConfFile or bail_out("cannot write $ConfFile: $!");
    print $out <<"_EOC_";
worker_processes  $Workers;
daemon off;
master_process $MasterProcessEnabled;
error_log $err_log $LogLevel;
pid       $PidFile;
$env$user$modules
$s{main_config}

http {
    access_log $AccLogFile;
    default_type text/plain;
    keepalive_timeout  68;
$temp
$s{http_config}

    server {
        listen          $ServerPort;
        server_name     '$server_name';
        client_max_body_size 30M;

$ConfigPreamble
        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$s{post_main_config}

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
_EOC_
    close $out;
}

# ---- logs ----

sub read_lines_from ($$) {
    my ($file, $pos) = @_;
    open my $in, '<', $file or return ([], $pos);
    seek $in, $pos, 0 if $pos;
    my @lines = <$in>;
    return (\@lines, tell $in);
}

# Lines the error log gained since the previous call in this block (all lines
# since nginx started with check_accum_error_log()).
sub error_log_data () {
    sleep $TestNginxSleep * 3;   # let nginx finish log-phase writes
    my ($lines, $pos) = read_lines_from($ErrLogFile, $CheckAccumErrLog ? 0 : $ErrLogFilePos);
    $ErrLogFilePos = $pos unless $CheckAccumErrLog;
    if ($IncludeStderr) {        # must_die: add what nginx printed on stderr
        my ($err) = read_lines_from($StderrFile, 0);
        for my $line (@$err) {
            (my $msg = $line) =~ s/^nginx: \[\w+\] //;
            chomp $msg;
            push @$lines, $line unless grep { index($_, $msg) >= 0 } @$lines;
        }
    }
    return $lines;
}

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    return (read_lines_from($AccLogFile, 0))[0];
}

# ---- driver ----

sub run_tests () {
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;
    local @SIG{qw(INT TERM HUP)} = map {
        my $sig = $_;
        sub { cleanup(); $SIG{$sig} = 'DEFAULT'; kill $sig, $$ };
    } qw(INT TERM HUP);
    kill_stale_nginx();
    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
    }
    cleanup();
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;
    my $name = $block->name;
    my $config = expand_env_in_text($block->config, $name);
    local $LogLevel = $block->log_level || $LogLevel;

    if (defined $config) {
        stop_nginx($name);
        $PrevConfig = $config;
        setup_server_root();
        write_user_files($block);
        write_config_file($block, $config);
        return run_must_die($block) if defined $block->must_die;
        # as the real one: a port not yet free is tried again for up to
        # 30 s; an nginx that cannot start ends the whole run
        my ($up, $status, $tries, $waited) = (0, 0, 0, 0);
        while (!(($up, $status) = start_nginx($name))[0]) {
            my ($err) = read_lines_from($StderrFile, 0);
            my ($log) = read_lines_from($ErrLogFile, 0);
            if ($waited >= 30
                || !grep { /Address already in use/ } @$err, @$log)
            {
                Test::More::diag(@$err);
                bail_out("$name - Cannot start nginx using command \"$NginxBinary -p $ServRoot/ -c $ConfFile\" (status code $status).");
            }
            my $delay = 0.1 * ++$tries;
            $delay = 1 if $delay > 1;
            sleep $delay;
            $waited += $delay;
        }
    } elsif (!defined $PrevConfig) {
        bail_out("$name - No '--- config' section specified and could not get previous one.");
    }   # else: like the real one, keep using the nginx of the previous block

    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        write_user_files($block) if $i > 0;
        $RunTestHelper->($block, 0, $i);
    }
}

# --- must_die: nginx has to exit on its own (non-zero, or the given code).
sub run_must_die ($) {
    my $block = shift;
    my $name = $block->name;
    my $want = $block->must_die;
    local $IncludeStderr = 1;
    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        my ($up, $status) = start_nginx($name);
        if ($up) {
            warn "WARNING: $name - nginx must die but it does not; killing it (req $i)\n";
            stop_nginx($name);
            $status = 0;
        }
        if ($status & 127) {
            Test::More::fail("$name - nginx was killed by signal " . ($status & 127));
        } elsif (looks_like_number($want)) {
            Test::More::is($status >> 8, $want, "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }
        $CheckErrorLog->($block, undef, 0, $i, 0);
    }
}

1;
