#!/usr/bin/perl
# Benchmark fixtures in the directory given: RSA and EC keys, their JWKS,
# pools of distinct tokens (one per line), 2 KiB and 4 KiB chat requests, 4 KiB and
# 1 MiB JSON answers with values to mask.
use strict;
use warnings;
use Crypt::JWT qw(encode_jwt);
use Crypt::PK::RSA;
use Crypt::PK::ECC;
use JSON::PP;

my $dir = shift or die "usage: $0 DIR\n";
my $json = JSON::PP->new->canonical;

my $rsa = Crypt::PK::RSA->new;
$rsa->generate_key(256, 65537);
my $ec = Crypt::PK::ECC->new;
$ec->generate_key('secp256r1');

my $rj = $rsa->export_key_jwk('public', 1);
my $ej = $ec->export_key_jwk('public', 1);
@$rj{qw(kid use)} = ('rs', 'sig');
@$ej{qw(kid use)} = ('es', 'sig');
write_file("jwks.json", $json->encode({ keys => [$rj, $ej] }));

my $exp = time + 86400;

sub tok {
    my ($key, $alg, $kid, $n) = @_;
    encode_jwt(payload => { sub => "user$n", scope => "bench inference",
                            exp => $exp, iat => time, jti => "t$n" },
               key => $key, alg => $alg, extra_headers => { kid => $kid });
}

write_file("rs-one.txt", tok($rsa, 'RS256', 'rs', 0) . "\n");
write_file("rs-pool.txt", join("", map { tok($rsa, 'RS256', 'rs', $_) . "\n" } 1 .. 2000));
write_file("es-pool.txt", join("", map { tok($ec, 'ES256', 'es', $_) . "\n" } 1 .. 2000));

my $msg = "Please summarise the following text. " x 50;
write_file("body2k.json", $json->encode({ model => "llama-8b",
    messages => [{ role => "user", content => substr($msg, 0, 1900) }] }));

# a chat request with a customer's details in it, for request masking
my @turns;
for my $n (0 .. 17) {
    push @turns, { role => $n % 2 ? "assistant" : "user",
                   content => "Customer user$n\@example.com paid with card "
                            . "4111 1111 1111 1111; please check order $n "
                            . "and summarise the case for the team. " x 3 };
}
write_file("chat4k.json", $json->encode({ model => "llama-8b",
                                         messages => \@turns }));

sub answer {
    my ($size) = @_;
    my @items;
    my $n = 0;
    my $out = "";
    while (length($out) < $size) {
        push @items, { id => $n, name => "user $n",
                       email => "user$n\@example.com",
                       note => "card 4111 1111 1111 1111 on file, ref $n" };
        $n++;
        $out = $json->encode({ object => "list", data => \@items })
            if $n % 16 == 0;
    }
    return $out;
}

write_file("up/html/json4k.json", answer(4096));
write_file("up/html/json1m.json", answer(1024 * 1024));

sub write_file {
    my ($name, $data) = @_;
    open my $fh, '>', "$dir/$name" or die "$dir/$name: $!\n";
    print $fh $data;
    close $fh;
}
