package ZT::Echo;

# Answers made by the echo module for the masking tests: bytes written into
# a single-quoted echo argument, and a stream sent one buffer a piece.
#
#   use ZT::Echo;
#   "echo -n -- '" . quote_conf($bytes) . "';"
#   echo_chunks(@pieces)   # one "echo -n ...; echo_flush;" line a piece

use strict;
use warnings;

use Exporter 'import';

our @EXPORT = qw(quote_conf echo_chunks);

# nginx config text for a single-quoted echo argument that echoes s
sub quote_conf {
    my $s = shift;
    $s =~ s/\\/\\\\/g;
    $s =~ s/'/\\'/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    return $s;
}

sub echo_chunks {
    return join '', map { "        echo -n -- '" . quote_conf($_)
                          . "'; echo_flush;\n" } @_;
}

1;
