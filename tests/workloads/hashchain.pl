# SPDX-License-Identifier: GPL-2.0-or-later
# hashchain.pl: a Perl computation for checkpoint tests.
#
#     perl hashchain.pl OUT READY [ROUNDS=900]
#
# Each round walks a SHA-256 chain (Digest::SHA, XS), then runs a pure-Perl
# integer mix over an array that grows, and a Math::BigInt step (pure Perl
# arithmetic). The result depends only on ROUNDS. Writes READY (its pid) once
# its modules are loaded; the last line of OUT is PASS or FAIL.
use strict;
use warnings;
use Digest::SHA qw(sha256 sha256_hex);
use Math::BigInt;

my ($out, $ready, $rounds) = @ARGV;
$rounds //= 900;
my $h = sha256("ckptd");
my $acc = Math::BigInt->new(1);
my $mod = Math::BigInt->new(2)->bpow(521)->bsub(1);    # a Mersenne prime
my (@lines, @mem);

open(my $rf, '>', "$ready.tmp") or die "$ready.tmp: $!";
print $rf "$$\n";
close($rf) or die;
rename("$ready.tmp", $ready) or die "rename: $!";

for my $r (0 .. $rounds - 1) {
	$h = sha256($h . pack("V", $_)) for 0 .. 3999;
	my $x = unpack("N", $h);
	for my $i (0 .. 19999) {
		$x = ($x * 1103515245 + 12345 + $i) % 4294967296;
		push @mem, $x if $i % 1000 == 0;
	}
	$acc = $acc->bmul(3)->badd(Math::BigInt->from_hex(unpack("H*", $h)))->bmodpow(65537, $mod);
	push @lines, sprintf("round %d: %s %08x %s", $r, unpack("H16", $h), $x,
			     substr($acc->as_hex(), 0, 18));
}
my $sum = 0;
$sum = ($sum * 31 + $_) % 4294967296 for @mem;
my $ok = @mem == 20 * $rounds;
push @lines, sprintf("mem: %d %08x", scalar @mem, $sum);
push @lines, $ok ? "PASS" : "FAIL the array lost elements";
open(my $of, '>', $out) or die "$out: $!";
print $of join("\n", @lines), "\n";
close($of) or die;
exit($ok ? 0 : 1);
