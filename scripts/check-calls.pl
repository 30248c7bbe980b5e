#!/usr/bin/perl
# Fails when a file of src/ calls, through any chain of calls, back into a
# file that calls it: the files form layers, each calling only below it.
# Reads the symbols of the built objects (nm): a file "calls" another when
# it uses a function or datum the other defines.  Every file names the
# module's own ngx_module_t, as nginx modules do; that does not count.
#
# Usage: check-calls.pl DIR_OF_OBJECTS

use strict;
use warnings;

my $dir = shift or die "usage: $0 DIR_OF_OBJECTS\n";
my @objs = glob "$dir/ngx_http_zt_*.o";
@objs or die "$0: no objects in $dir\n";

my (%defined_in, %uses);

for my $o (@objs) {
    (my $file = $o) =~ s{.*/(.*)\.o$}{$1.c};
    open my $nm, '-|', 'nm', $o or die "nm $o: $!\n";
    while (<$nm>) {
        if (/^\S+ [TDBRC] (\S+)$/) {
            $defined_in{$1} = $file;
        } elsif (/^\s+U (\S+)$/) {
            $uses{$file}{$1} = 1;
        }
    }
    close $nm;
}

my %calls;

for my $file (keys %uses) {
    for my $sym (keys %{ $uses{$file} }) {
        next if $sym eq 'ngx_http_zt_inference_module';
        my $to = $defined_in{$sym} or next;
        push @{ $calls{$file}{$to} }, $sym if $to ne $file;
    }
}

# a cycle is a path from a file back to itself: depth-first, with colours
my (%state, @path, @cycles);

sub visit {
    my ($f) = @_;
    $state{$f} = 1;
    push @path, $f;
    for my $to (sort keys %{ $calls{$f} || {} }) {
        if (($state{$to} // 0) == 1) {
            my @i = grep { $path[$_] eq $to } 0 .. $#path;
            push @cycles, [ @path[ $i[0] .. $#path ], $to ];
        } elsif (!$state{$to}) {
            visit($to);
        }
    }
    pop @path;
    $state{$f} = 2;
}

visit($_) for sort keys %calls;

for my $c (@cycles) {
    print STDERR "calls go round: ", join(' -> ', @$c), "\n";
    for my $i (0 .. $#$c - 1) {
        print STDERR "    $c->[$i] uses ",
            join(', ', sort @{ $calls{ $c->[$i] }{ $c->[$i + 1] } }), "\n";
    }
}

exit(@cycles ? 1 : 0);
