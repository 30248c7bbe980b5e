#!/usr/bin/perl
# Reads the valgrind reports of `make test-valgrind` (one per nginx
# process, see scripts/valgrind-nginx.sh) and fails when one of them shows
#   - a memory error (invalid read/write/free, uninitialised value, ...)
#     anywhere: nginx under test must have none;
#   - memory the module allocated still held when a process exits, of any
#     kind (lost or still reachable): what a process keeps, it frees in
#     exit_process, and what a configuration keeps, with the configuration.
# Leaks of nginx itself (it does not free everything at exit) are not the
# module's and are counted, not reported.  So are errors in code no object
# file holds, every frame "???": PCRE2's JIT-compiled matchers, which
# valgrind cannot see into (Debian's PCRE2 is not built for it).
#
# Usage: valgrind-report.pl DIR

use strict;
use warnings;

my $dir = shift or die "usage: $0 DIR\n";
my @logs = grep { !/\.conf$/ } glob "$dir/vg.*";
my ($procs, $bad, $other, $jit) = (0, 0, 0, 0);
my %seen;

die "$0: no valgrind reports in $dir\n" unless @logs;

for my $log (@logs) {
    open my $fh, '<', $log or die "$log: $!\n";
    my @lines = map { s/^==\d+== ?//r } <$fh>;
    close $fh;

    # the configuration it ran: its own, or its master's
    my ($parent) = map { /^Parent PID: (\d+)/ ? $1 : () } @lines;
    my ($conf) = grep { -f } "$log.conf", "$dir/vg.$parent.conf";

    $procs++;

    # records are separated by empty lines
    my (@records, @cur);
    for my $line (@lines, "\n") {
        if ($line =~ /^\s*$/) {
            push @records, [@cur] if @cur;
            @cur = ();
        } else {
            push @cur, $line;
        }
    }

    for my $rec (@records) {
        my $head = $rec->[0];
        my $stack = join '', @$rec[1 .. $#$rec];

        next unless $stack =~ /^\s+(?:at|by) 0x/m;

        my $leak = $head =~ /\bin loss record\b/;
        my $ours = $stack =~ /ngx_http_zt_|ngx_http_zt_inference_module\.so/;

        if ($leak && !$ours) {
            $other++;
            next;
        }

        if (!$leak && $stack !~ /^\s+(?:at|by) 0x[0-9A-F]+: (?!\?\?\?)/m) {
            $jit++;
            next;
        }

        # one report of each stack is enough
        my $key = join '', $head =~ s/^[\d,]+ (?:\([^)]*\) )?bytes in [\d,]+ blocks//r,
                           $stack =~ s/0x[0-9A-F]+//gr;
        $key =~ s/loss record \d+ of \d+//;
        next if $seen{$key}++;

        $bad++;
        print "== $log (configuration: ", $conf // 'unknown', ")\n", @$rec,
              "\n";
    }
}

printf "valgrind: %d nginx processes, %d report%s against the module or of"
       . " memory errors; not counted: %d leak record%s of nginx itself, %d"
       . " error%s in JIT code\n",
       $procs, $bad, $bad == 1 ? '' : 's', $other, $other == 1 ? '' : 's',
       $jit, $jit == 1 ? '' : 's';

exit($bad ? 1 : 0);
