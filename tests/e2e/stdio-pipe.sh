#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# stdio on pipes: perl reads its line count from a pipe on stdin and writes
# numbered lines to a pipe on stdout, one every 10 ms. A pipe is not ckptd's
# to save: the restored process gets `ckptd restore`'s own stdin, stdout and
# stderr, and goes on writing there. Lines before the snapshot came through
# the pipe, the rest through restore's stdout: together every line, in order
# (some maybe twice, from where the snapshot was taken), then "done".
#     stdio-pipe.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "stdio-pipe-$mode"

PERL=$(command -v perl) || skip "no perl"
N=400
# shellcheck disable=SC2016 # perl code
prog='$| = 1; my $n = <STDIN>; chomp $n;
open(my $r, ">", "$ARGV[0].tmp") or die; print $r "$$\n"; close($r); rename("$ARGV[0].tmp", $ARGV[0]);
for my $i (1 .. $n) { print "line $i\n"; select(undef, undef, undef, 0.01); }
print "done\n";'
(echo "$N" | "$TOOLS/detach" "$PERL" -e "$prog" "$T/ready" 2>"$T/perl.err" | cat >"$T/piped.out") &
pipeline=$!
E2E_SHOW+=("$T/perl.err" "$T/piped.out")
wait_ready "$pipeline" "$T/ready"
pid=$(cat "$T/ready")
E2E_PIDS+=("$pid")
[ -p "/proc/$pid/fd/1" ] || fail "stdout of $pid is not a pipe"
rand_between 300 2500
sleep_ms "$RAND"
CYCLE_READY=$T/ready
ckpt_cycle "$pid" "$mode" "$T/img" notchild
restored_out=$CKPTD_OUT
wait_gone "$pid" 60 "the restored process"
check_resumed
wait "$pipeline" || true

# Lines through the pipe: 1..k. Through restore's stdout: j..N and "done", j <= k + 1.
k=$(grep -c '^line ' "$T/piped.out" || true)
expect=$(seq 1 "$k" | sed 's/^/line /')
[ "$(grep '^line ' "$T/piped.out")" = "$expect" ] || fail "the pipe got lines out of order"
grep -E '^(line [0-9]+|done)$' "$restored_out" >"$T/restored.lines" || true
E2E_SHOW+=("$restored_out")
j=$(head -n 1 "$T/restored.lines" | sed -n 's/^line //p')
[ -n "$j" ] || fail "the restored process wrote no lines to restore's stdout"
[ "$j" -le $((k + 1)) ] || fail "lines $((k + 1))..$((j - 1)) are lost (pipe got 1..$k, restored began at $j)"
{
	seq "$j" "$N" | sed 's/^/line /'
	echo "done"
} | cmp -s - "$T/restored.lines" || fail "restore's stdout does not hold lines $j..$N and done"
log "PASS: pipe had lines 1..$k, the restored process wrote $j..$N"
