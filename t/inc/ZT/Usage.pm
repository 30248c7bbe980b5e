package ZT::Usage;

# Helpers of the usage limit tests (t/08x-usage*.t): the estimate of a
# request's cost computed here from the README's formula (not by the
# module), OpenAI's duration format, the stub model's answers, and the
# gateway configuration most blocks share.

use strict;
use warnings;

use JSON::PP ();
use POSIX ();

# bytes of every string value of a JSON document, in UTF-8
sub string_bytes {
    my ($v) = @_;
    if (ref $v eq 'HASH')  { my $n = 0; $n += string_bytes($_) for values %$v; return $n }
    if (ref $v eq 'ARRAY') { my $n = 0; $n += string_bytes($_) for @$v; return $n }
    return 0 if !defined $v || ref $v;                  # null, true, false
    # JSON::PP keeps numbers as numbers: only strings count
    my $b = B::svref_2object(\$v);
    return 0 unless $b->FLAGS & B::SVf_POK() && !($b->FLAGS & (B::SVf_IOK() | B::SVf_NOK()));
    my $s = $v;
    utf8::encode($s);
    return length $s;
}

# the README's estimate: ceil(bytes / 4) + max(limits) (or the default)
# times max(n, best_of)
sub estimate {
    my ($body, $default) = @_;
    $default //= 1024;
    my $doc = eval { JSON::PP->new->decode($body) };
    if (!defined $doc && $@) {
        return POSIX::ceil(length($body) / 4) + $default;
    }
    my $prompt = POSIX::ceil(string_bytes($doc) / 4);
    return $prompt + $default unless ref $doc eq 'HASH';
    my ($max) = sort { $b <=> $a } grep { defined }
        map { $doc->{$_} } qw(max_completion_tokens max_tokens max_output_tokens);
    my ($n) = sort { $b <=> $a } grep { defined } map { $doc->{$_} } qw(n best_of);
    return $prompt + ($max // $default) * ($n // 1);
}

# Go's time.Duration.String() for whole milliseconds, as OpenAI sends it
sub duration {
    my ($ms) = @_;
    return '0s' if $ms == 0;
    return "${ms}ms" if $ms < 1000;
    my $h = int($ms / 3600000);
    my $m = int($ms / 60000) % 60;
    my $s = int($ms / 1000) % 60;
    my $f = $ms % 1000;
    my $out = '';
    $out .= "${h}h" if $h;
    $out .= "${m}m" if $h || $m;
    $out .= $s;
    if ($f) { (my $frac = sprintf('%03d', $f)) =~ s/0+$//; $out .= ".$frac" }
    return "${out}s";
}

# a JSON answer of the stub model
sub answer {
    my (%a) = @_;
    my $content = $a{content} // 'ok';
    my $usage = exists $a{usage} ? $a{usage}
        : { prompt_tokens => $a{in} // 12, completion_tokens => $a{out} // 5,
            total_tokens => ($a{in} // 12) + ($a{out} // 5) };
    my %doc = (id => 'chatcmpl-1', object => 'chat.completion',
               model => 'stub',
               choices => [{ index => 0, finish_reason => 'stop',
                             message => { role => 'assistant',
                                          content => $content } }]);
    $doc{usage} = $usage if defined $usage;
    return JSON::PP->new->canonical->encode(\%doc);
}

# nginx's single-quoted string for "return 200 '...'"
sub nginx_quote {
    my ($s) = @_;
    $s =~ s/\\/\\\\/g;
    $s =~ s/'/\\'/g;
    return "'$s'";
}

# The race of t/082 and t/083: /race calls the limited location as 16
# callers at once (subrequests proxied back to this server, so that both
# workers take some), against a budget that fits exactly 4.  Each request
# costs 11 (4 bytes of strings: 1, and max_tokens 10) and the stub model
# reports exactly 11, so that no settlement frees room: exactly 4 pass
# whatever the order.  The model takes 0.3 s: all reserve while the first
# are still upstream.
sub race_config {
    my (%a) = @_;
    my $store = $a{store} // 'shm';
    my $token = $a{token};
    my $calls = join '', map { "        echo_location_async /call/$_;\n" } 1 .. 16;
    return <<"_EOC_";
    zt_jwks_file \$TEST_NGINX_DATA_DIR/jwks.json;

    location = /v1/chat {
        zt_policy allow scope=inference:invoke;
        zt_usage_limit zone=race key=\$zt_sub tokens=44/d;
        zt_usage_limit_store $store;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/model;
    }

    location = /model {
        default_type application/json;
        echo_sleep 0.3;
        echo -n '{"choices":[{"message":{"content":"MODEL-OK"}}],"usage":{"prompt_tokens":1,"completion_tokens":10}}';
    }

    location = /race {
$calls    }

    location ~ ^/call/\\d+\$ {
        internal;
        rewrite ^ /v1/chat break;
        proxy_method POST;
        proxy_set_body '{"max_tokens":10,"prompt":"abcd"}';
        proxy_set_header Authorization "Bearer $token";
        proxy_set_header Content-Type application/json;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT;
    }
_EOC_
}

require B;

1;
