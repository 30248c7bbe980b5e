#!/usr/bin/perl
# Fails when the docs fall behind the code: every directive of a command
# table and every $zt_* variable the module registers must be named in
# README.md (the operator's guide) and in docs/reference.md (the
# reference), and no file git tracks may point outside the repository at
# the folder of shared notes beside it, which a clone does not have.
#
# Usage: check-docs.pl [REPOSITORY_ROOT]   (default: the current directory)

use strict;
use warnings;

my $root = shift // '.';
chdir $root or die "$0: cd $root: $!\n";

my @sources = ('ngx_http_zt_inference_module.c', sort glob 'src/*.c');
my (%directives, %variables, @problems);

for my $file (@sources) {
    open my $fh, '<', $file or die "$0: $file: $!\n";
    my $text = do { local $/; <$fh> };
    close $fh;

    # the entries of a command table, up to its ngx_null_command
    while ($text =~ /ngx_command_t\s+\w+\s*\[\]\s*=\s*\{(.*?)ngx_null_command/sg)
    {
        my $table = $1;
        $directives{$1} //= $file while $table =~ /ngx_string\("(\w+)"\)/g;
    }

    # the entries of a variable table, up to its ngx_http_null_variable
    while ($text =~ /ngx_http_variable_t\s+\w+\s*\[\]\s*=\s*\{
                     (.*?)ngx_http_null_variable/sxg)
    {
        my $table = $1;
        $variables{$1} //= $file while $table =~ /ngx_string\("(\w+)"\)/g;
    }

    # a variable added alone: a zt_ name set in the function that adds it
    # (other names there, $request_id, are only looked up)
    for my $body ($text =~ /^\{\n(.*?)^\}\n/smg) {
        next unless $body =~ /ngx_http_add_variable\s*\(/;
        $variables{$1} //= $file
            while $body =~ /(?:ngx_string|ngx_str_set\s*\(\s*&?\w+\s*,)
                            \s*\(?\s*"(zt_\w+)"/sxg;
    }
}

%directives or die "$0: no command table found in @sources\n";
%variables or die "$0: no variable table found in @sources\n";

for my $doc ('README.md', 'docs/reference.md') {
    my $text = '';
    if (open my $fh, '<', $doc) {
        $text = do { local $/; <$fh> };
        close $fh;
    } else {
        push @problems, "$doc: cannot be read: $!";
    }

    for my $d (sort keys %directives) {
        # a directive, not a variable or a longer name that starts with it
        push @problems, "$doc: directive \"$d\" ($directives{$d}) is missing"
            unless $text =~ /(?<![\w\$])\Q$d\E(?!\w)/;
    }

    for my $v (sort keys %variables) {
        # a prefix variable ($zt_claim_) is written $zt_claim_NAME
        my $re = $v =~ /_$/ ? qr/\$\Q$v\E/ : qr/\$\Q$v\E(?!\w)/;
        push @problems, "$doc: variable \"\$$v\" ($variables{$v}) is missing"
            unless $text =~ $re;
    }
}

# written in two pieces so that this file does not name what it looks for
my $shared = '..' . '/shared';
my $outside = qr{\Q$shared\E};

open my $ls, '-|', 'git', 'ls-files', '-z' or die "$0: git ls-files: $!\n";
my @tracked = do { local $/ = "\0"; map { chomp; $_ } <$ls> };
close $ls or die "$0: git ls-files failed\n";

for my $file (@tracked) {
    next if -l $file || !-f $file;
    open my $fh, '<:raw', $file or die "$0: $file: $!\n";
    while (my $line = <$fh>) {
        push @problems, "$file:$.: points outside the repository"
            if $line =~ $outside;
    }
    close $fh;
}

if (@problems) {
    print STDERR "check-docs: $_\n" for @problems;
    exit 1;
}

printf "check-docs: %d directives and %d variables documented, "
       . "nothing points outside the repository\n",
       scalar keys %directives, scalar keys %variables;
