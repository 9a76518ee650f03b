# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# lib.sh: what every end-to-end scenario shares. A scenario script sources
# this, calls e2e_init, and either describes a workload for run_scenario
# (checkpoint at a random moment, restore, compare with an uninterrupted
# run) or drives ckptd into an error and checks it failed cleanly.
#
# Environment: CKPTD (the binary), WORKLOADS (built workloads), TOOLS
# (built helpers); E2E_CKPTD to test another ckptd binary than the build's;
# WORKLOADS_SRC (script workloads, default: beside us);
# CKPT_SEED to replay a run's random choices; CKPT_KEEP=1 to keep the
# temporary directory; CKPTD_TEST_TMPDIR for where it goes.
# Runs as root; exits 77 (meson: skipped) when it cannot.

set -euo pipefail
shopt -s nullglob

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORKLOADS_SRC=${WORKLOADS_SRC:-$E2E_DIR/../workloads}
E2E_NAME=
E2E_PIDS=()   # processes to kill at exit
E2E_MOUNTS=() # mount points to unmount at exit
E2E_APPEND_ONLY=() # files made append-only (chattr +a), which rm cannot remove
E2E_SHOW=()   # files worth printing when a check fails
E2E_NRUN=0
E2E_SEED=
T=

log() {
	printf '%s [%s] %s\n' "$(date +%T.%3N)" "$E2E_NAME" "$*" >&2
}

skip() {
	log "SKIP: $*"
	exit 77
}

# Prints the last lines of a file for a post-mortem.
show_file() {
	local f=$1 lines=${2:-40}
	[ -e "$f" ] || return 0
	if [ ! -s "$f" ]; then
		printf -- '--- %s (empty)\n' "$f" >&2
		return 0
	fi
	printf -- '--- %s (last %d lines)\n' "$f" "$lines" >&2
	if grep -Iq . "$f" 2>/dev/null; then
		tail -n "$lines" "$f" >&2
	else
		od -A d -t x1 "$f" | tail -n "$lines" >&2
	fi
}

fail() {
	local f
	log "FAIL: $*"
	for f in "${E2E_SHOW[@]}"; do
		show_file "$f"
	done
	log "FAIL: $* (seed $E2E_SEED; replay with CKPT_SEED=$E2E_SEED)"
	exit 1
}

e2e_cleanup() {
	local rc=$? pid m
	trap - EXIT
	for pid in "${E2E_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
	for m in "${E2E_MOUNTS[@]}"; do
		umount -l "$m" 2>/dev/null || true
	done
	for m in "${E2E_APPEND_ONLY[@]}"; do
		chattr -a "$m" 2>/dev/null || true
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "${CKPT_KEEP:-0}" = 1 ]; then
			log "kept $T"
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}

# e2e_mode ARG: the scenario's mode argument, checked.
e2e_mode() {
	case ${1:-} in
	kill | leave) echo "$1" ;;
	*)
		echo "usage: $0 kill|leave" >&2
		exit 2
		;;
	esac
}

# e2e_init NAME: a temporary directory $T, the random seed, cleanup at exit.
e2e_init() {
	E2E_NAME=$1
	CKPTD=${E2E_CKPTD:-${CKPTD:-}}
	: "${CKPTD:?CKPTD must name the ckptd binary}"
	: "${WORKLOADS:?WORKLOADS must name the directory of built workloads}"
	: "${TOOLS:?TOOLS must name the directory of built test tools}"
	[ "$(id -u)" = 0 ] || skip "needs root"
	[ -x "$CKPTD" ] || fail "CKPTD=$CKPTD is not executable"
	E2E_SEED=${CKPT_SEED:-$RANDOM}
	RANDOM=$E2E_SEED
	# Not named after the test: error lines hold paths, and "restore-damaged"
	# would say "damaged" for the tool.
	T=$(mktemp -d "${CKPTD_TEST_TMPDIR:-${TMPDIR:-/tmp}}/ckptd-e2e.XXXXXX")
	trap e2e_cleanup EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	trap 'exit 129' HUP
	log "tmp $T, seed $E2E_SEED (replay with CKPT_SEED=$E2E_SEED)"
}

now_ms() {
	local t
	t=$(date +%s%N)
	echo $((t / 1000000))
}

# rand_between LO HI: RAND becomes a random integer in [LO, HI]. Never call it
# in $(...): bash reseeds RANDOM in subshells, and the seed would not replay.
rand_between() {
	local lo=$1 hi=$2
	if [ "$hi" -gt "$lo" ]; then
		RAND=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
	else
		RAND=$lo
	fi
}

sleep_ms() {
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

# ---------------------------------------------------------------- processes

# The state letter of a process (R, S, D, T, t, Z...), or nothing if gone.
proc_state() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	echo "${stat%% *}"
}

# wait_for SECS WHAT CMD...: until CMD succeeds; fails with WHAT after SECS.
wait_for() {
	local deadline=$(($(now_ms) + $1 * 1000)) what=$2
	shift 2
	until "$@"; do
		[ "$(now_ms)" -le "$deadline" ] || fail "$what"
		sleep 0.02
	done
}

# count_ticks FILE: how many lines of FILE start with "tick " (0 for none or no file;
# grep -c says 0 and fails then, so "|| echo 0" would give two lines).
count_ticks() {
	local n
	n=$(grep -c '^tick ' "$1" 2>/dev/null) || true
	echo "${n:-0}"
}

# pack_stored_byte PACK OFFSET: OFFSET, or, where it falls after a frame's end
# (frames start on 4 KiB boundaries and the bytes between are unspecified, so
# a flip there harms nothing: common/pack.c), the last byte its frame stores.
pack_stored_byte() {
	need_python3
	"$PYTHON" - "$1" "$2" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb").read()
off = int(sys.argv[2])
n_frames, _, table = struct.unpack_from("<QQQ", f, len(f) - 64 + 16)
for i in range(n_frames):
    start, stored, _, _ = struct.unpack_from("<QIIQ", f, table + i * 24)
    end = start + 32 + stored
    if start <= off < (end + 4095) // 4096 * 4096:
        off = min(off, end - 1)
print(off)
PY
}

# longer_than FILE BYTES: for wait_for.
longer_than() {
	[ "$(stat -c %s "$1")" -gt "$2" ]
}

# wait_log_grows FILE: until FILE is longer than it is now (a workload that
# appends went on past the snapshot).
wait_log_grows() {
	local size
	size=$(stat -c %s "$1")
	wait_for 20 "$(basename "$1") did not grow after the snapshot" longer_than "$1" "$size"
	log "$(basename "$1"): $size bytes after the dump, $(stat -c %s "$1") now"
}

# Gone: reaped, not even a zombie.
gone() {
	[ ! -e "/proc/$1" ]
}

# Alive: exists and is not a zombie.
alive() {
	local s
	s=$(proc_state "$1")
	[ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}

tids_of() {
	local t out=()
	for t in /proc/"$1"/task/*; do
		out+=("${t##*/}")
	done
	printf '%s\n' "${out[@]}" | sort -n | tr '\n' ' '
}

# Where each thread of a process is: for a process that hangs.
show_threads() {
	local pid=$1 t
	for t in /proc/"$pid"/task/*; do
		printf '  tid %s state %s comm %s wchan %s syscall %s\n' "${t##*/}" \
			"$(proc_state "$pid/task/${t##*/}")" "$(cat "$t/comm" 2>/dev/null)" \
			"$(cat "$t/wchan" 2>/dev/null)" "$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)" >&2
	done
}

# wait_gone PID TIMEOUT_S WHAT: until PID has exited (a zombie counts: the reaper reaps it).
wait_gone() {
	local pid=$1 timeout=$2 what=$3 deadline
	deadline=$(($(now_ms) + timeout * 1000))
	while alive "$pid"; do
		if [ "$(now_ms)" -gt "$deadline" ]; then
			log "$what (pid $pid) still runs after ${timeout}s:"
			show_threads "$pid"
			fail "$what (pid $pid) did not finish within ${timeout}s"
		fi
		sleep 0.05
	done
}

# Every thread untraced and not stopped.
check_running() {
	local pid=$1 what=$2 t s tracer
	for t in /proc/"$pid"/task/*; do
		s=$(proc_state "$pid/task/${t##*/}")
		tracer=$(awk '/^TracerPid:/ { print $2 }' "$t/status" 2>/dev/null || echo 0)
		case $s in
		T | t) fail "$what: thread ${t##*/} is stopped (state $s)" ;;
		esac
		[ "${tracer:-0}" = 0 ] || fail "$what: thread ${t##*/} is still traced by $tracer"
	done
}

# start_pair EXE ARGS...: EXE OUT READY ARGS... twice, a reference in
# $T/ref (REF_PID, left alone) and the run to be checkpointed in $T/run
# (RUN_PID), both ready. PAIR_DIR puts ref and run elsewhere than in $T.
start_pair() {
	local exe=$1 d base=${PAIR_DIR:-$T}
	shift
	for d in ref run; do
		mkdir -p "$base/$d"
		start_bg "$base/$d" "$exe" "$base/$d/out" "$base/$d/ready" "$@"
		[ "$d" = ref ] && REF_PID=$BG_PID || RUN_PID=$BG_PID
	done
	wait_ready "$RUN_PID" "$base/run/ready"
	wait_ready "$REF_PID" "$base/ref/ready"
}

# start_bg DIR CMD...: starts CMD in its own session, cwd DIR, stdin $E2E_STDIN
# (default /dev/null), stdout and stderr to DIR/stdout and DIR/stderr, no
# other fds. Sets BG_PID; CMD runs with that pid.
start_bg() {
	local dir=$1
	shift
	# MALLOC_PERTURB_ (meson sets a random one) would change a workload's pace between tests.
	(cd "$dir" && unset MALLOC_PERTURB_ && exec "$TOOLS/detach" "$@" <"${E2E_STDIN:-/dev/null}" >"$dir/stdout" 2>"$dir/stderr") &
	BG_PID=$!
	E2E_PIDS+=("$BG_PID")
	E2E_SHOW+=("$dir/stderr")
	log "started pid $BG_PID: $*"
}

# need_python3: sets PYTHON to Debian's python3 (the program the python
# workloads are meant to exercise), else the first on PATH; skips without one.
# Their shared module (ready.py) is compiled in memory only: no __pycache__
# in the source tree.
need_python3() {
	PYTHON=/usr/bin/python3
	[ -x "$PYTHON" ] || PYTHON=$(command -v python3) || skip "no python3"
	export PYTHONDONTWRITEBYTECODE=1
}

# wait_ready PID FILE [TIMEOUT_S]: until the workload wrote its ready file.
wait_ready() {
	local pid=$1 file=$2 timeout=${3:-60} deadline
	deadline=$(($(now_ms) + timeout * 1000))
	while [ ! -e "$file" ]; do
		alive "$pid" || fail "pid $pid exited before it was ready"
		[ "$(now_ms)" -le "$deadline" ] || fail "pid $pid not ready after ${timeout}s"
		sleep 0.01
	done
}

# wait_exe PID PATH: until PID runs PATH (for programs that write no ready file).
wait_exe() {
	local pid=$1 exe deadline
	exe=$(readlink -f "$2")
	deadline=$(($(now_ms) + 30000))
	while [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$exe" ]; do
		alive "$pid" || fail "pid $pid exited before it ran $exe"
		[ "$(now_ms)" -le "$deadline" ] || fail "pid $pid did not exec $exe"
		sleep 0.01
	done
}

# Waits for a child of ours; CHILD_STATUS is its exit status (not in $(...): a
# subshell cannot wait for our children).
child_status() {
	CHILD_STATUS=0
	wait "$1" || CHILD_STATUS=$?
}

# ------------------------------------------------------------------ ckptd

# run_ckptd ARGS...: runs ckptd, output to numbered files in $T, and returns its status.
# CKPTD_OUT and CKPTD_ERR name the files.
run_ckptd() {
	local rc=0 t0
	E2E_NRUN=$((E2E_NRUN + 1))
	CKPTD_OUT=$T/ckptd-$E2E_NRUN-$1.out
	CKPTD_ERR=$T/ckptd-$E2E_NRUN-$1.err
	E2E_SHOW+=("$CKPTD_OUT" "$CKPTD_ERR")
	log "ckptd $*"
	t0=$(now_ms)
	"$CKPTD" "$@" </dev/null >"$CKPTD_OUT" 2>"$CKPTD_ERR" || rc=$?
	log "ckptd $1: exit $rc after $(($(now_ms) - t0)) ms"
	return "$rc"
}

# The "ckptd: error: " line of the last run, or nothing.
ckptd_error_line() {
	grep -m1 '^ckptd: error: ' "$CKPTD_ERR" || true
}

# check_error KEYWORD RC WHAT: the last ckptd run (CKPTD_ERR) failed as it should:
# non-zero exit and a "ckptd: error: " line naming KEYWORD (case-insensitive).
# Sets ERROR_LINE.
check_error() {
	local keyword=$1 rc=$2 what=$3
	[ "$rc" != 0 ] || fail "$what succeeded; expected an error about '$keyword'"
	ERROR_LINE=$(ckptd_error_line)
	[ -n "$ERROR_LINE" ] || fail "$what failed (exit $rc) without a 'ckptd: error: ' line"
	# The keyword must be in what ckptd says, not in a path we gave it.
	if ! grep -qiF -- "$keyword" <<<"${ERROR_LINE//"$T"/<tmp>}"; then
		fail "$what: the error does not say '$keyword': $ERROR_LINE"
	fi
	log "ok: exit $rc, $ERROR_LINE"
}

# expect_error KEYWORD ARGS...: ckptd ARGS must fail naming KEYWORD.
expect_error() {
	local keyword=$1 rc=0
	shift
	run_ckptd "$@" || rc=$?
	check_error "$keyword" "$rc" "ckptd $*"
}

# error_names WORD: the last error line also names WORD (a file, a path).
error_names() {
	grep -qiF -- "$1" <<<"$ERROR_LINE" || fail "the error does not name '$1': $ERROR_LINE"
}

# assert_no_image DIR [empty]: nothing left of a failed dump: DIR absent (or the
# empty directory it was) and no ".NAME.tmp-*" beside it.
assert_no_image() {
	local dir=$1 was=${2:-absent} parent name left
	parent=$(dirname "$dir")
	name=$(basename "$dir")
	if [ "$was" = empty ]; then
		[ -d "$dir" ] || fail "$dir was an empty directory and is gone"
		[ -z "$(find "$dir" -mindepth 1 -maxdepth 1)" ] ||
			fail "$dir was empty and now holds: $(find "$dir" -mindepth 1 -maxdepth 1 | head -5)"
	else
		[ ! -e "$dir" ] || fail "a failed dump left $dir behind: $(find "$dir" -maxdepth 1 2>&1 | head -5)"
	fi
	left=$(find "$parent" -maxdepth 1 -name ".*.tmp-*" 2>/dev/null || true)
	[ -z "$left" ] || fail "a failed dump left temporary files: $left"
	[ ! -e "$parent/.$name.tmp" ] || fail "a failed dump left $parent/.$name.tmp"
}

# flip_byte FILE OFFSET [MASK]: XORs one byte with MASK (default 0xff: every bit).
flip_byte() {
	local f=$1 off=$2 mask=${3:-0xff} b
	b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
	[ -n "$b" ] || fail "flip_byte: $f has no byte at $off"
	# shellcheck disable=SC2059 # the format is the byte
	printf "$(printf '\\%03o' $((b ^ mask)))" |
		dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# A checksum of every file in an image directory, to prove restore did not change it.
image_sum() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0r sha256sum)
}

show_inspect() {
	local img=$1
	[ -d "$img" ] || return 0
	"$CKPTD" inspect "$img" --json >"$T/inspect.json" 2>&1 || true
	E2E_SHOW+=("$T/inspect.json")
}

# ------------------------------------------------------------------ trees

# tree_members ROOT: ROOT and every descendant (zombies included), one pid a
# line, in order of pid.
tree_members() {
	local todo=("$1") p t kids out=()
	while [ "${#todo[@]}" -gt 0 ]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		out+=("$p")
		for t in /proc/"$p"/task/*; do
			kids=()
			read -r -a kids <"$t/children" 2>/dev/null || true
			todo+=(${kids[@]+"${kids[@]}"})
		done
	done
	printf '%s\n' "${out[@]}" | sort -n
}

# tree_shape ROOT: what a restore must bring back of a tree, a line a member:
# pid, parent (the root's is whoever adopts it, not compared), process group
# and session (one outside the tree comes back as the root's), name, and live
# or zombie with its wait status (the last field of /proc/PID/stat).
tree_shape() {
	local root=$1 members p stat comm ppid pgid sid kind f
	members=" $(tree_members "$root" | tr '\n' ' ') "
	for p in $members; do
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue # ended meanwhile
		comm=${stat#*(}
		comm=${comm%)*}
		read -r -a f <<<"${stat##*) }"
		ppid=${f[1]} pgid=${f[2]} sid=${f[3]}
		[ "$p" != "$root" ] || ppid=-
		[[ $members == *" $pgid "* ]] || pgid=$root
		[[ $members == *" $sid "* ]] || sid=$root
		kind=live
		[ "${f[0]}" != Z ] || kind="zombie status ${f[${#f[@]} - 1]}"
		echo "$p ppid $ppid pgid $pgid sid $sid $kind $comm"
	done
}

# compare_tree ROOT FILE WHAT: the tree is shaped as tree_shape wrote in FILE.
compare_tree() {
	local root=$1 file=$2 what=$3
	tree_shape "$root" >"$file.now"
	if ! cmp -s "$file" "$file.now"; then
		diff -u "$file" "$file.now" >&2 || true
		fail "$what: the tree differs from the one dumped (- dumped, + now)"
	fi
}

# check_tree_running FILE WHAT: every live member in FILE (a tree_shape) runs, untraced.
check_tree_running() {
	local file=$1 what=$2 p kind
	while read -r p _ _ _ _ _ _ kind _; do
		[ "$kind" = live ] || continue
		alive "$p" || fail "$what: member $p is gone"
		check_running "$p" "$what: member $p"
	done <"$file"
}

# wait_tree_gone FILE ROOT WHAT: every member in FILE but ROOT (the caller's
# to wait for) has ended and been reaped, its pid free.
wait_tree_gone() {
	local file=$1 root=$2 what=$3 p deadline
	while read -r p _; do
		[ "$p" != "$root" ] || continue
		wait_gone "$p" 10 "$what: member $p"
		deadline=$(($(now_ms) + 5000))
		until gone "$p"; do
			[ "$(now_ms)" -le "$deadline" ] || fail "$what: member $p was not reaped"
			sleep 0.02
		done
	done <"$file"
}

# kill_tree FILE: SIGKILL every member in FILE (a tree_shape).
kill_tree() {
	local p
	while read -r p _; do
		kill -9 "$p" 2>/dev/null || true
	done <"$1"
}

# ----------------------------------------------------- checkpoint and restore

# record_state PID PREFIX: what must be the same after a restore.
record_state() {
	local pid=$1 p=$2 t
	tids_of "$pid" >"$p.tids"
	{
		cat "/proc/$pid/cmdline" >"$p.cmdline" &&
			readlink "/proc/$pid/exe" >"$p.exe"
	} 2>/dev/null || fail "pid $pid is gone (it finished too early?)"
	time_ns_of "$pid" >"$p.timens"
	: >"$p.comms"
	for t in /proc/"$pid"/task/*; do
		echo "${t##*/} $(cat "$t/comm" 2>/dev/null)" >>"$p.comms"
	done
	sort -n -o "$p.comms" "$p.comms"
}

# "host" when PID shares our time namespace, else "own": a restored process
# keeps the host's clocks when it had them (restore makes a namespace only
# for clocks that would go back).
time_ns_of() {
	local ns
	ns=$(readlink "/proc/$1/ns/time" 2>/dev/null) || return 0
	[ "$ns" = "$(readlink /proc/self/ns/time)" ] && echo host || echo own
}

# compare_state PID PREFIX: after a restore. A scenario whose workload
# starts and ends threads all along (glibc's SIGEV_THREAD timers) sets
# TRANSIENT_THREADS=1: its thread list cannot be compared.
compare_state() {
	local pid=$1 p=$2
	record_state "$pid" "$p.after"
	if [ "${TRANSIENT_THREADS:-0}" = 1 ]; then
		cp "$p.tids" "$p.after.tids"
		cp "$p.comms" "$p.after.comms"
	fi
	cmp -s "$p.tids" "$p.after.tids" ||
		fail "restored threads are [$(cat "$p.after.tids")], were [$(cat "$p.tids")]"
	cmp -s "$p.cmdline" "$p.after.cmdline" ||
		fail "restored cmdline is '$(tr '\0' ' ' <"$p.after.cmdline")', was '$(tr '\0' ' ' <"$p.cmdline")'"
	cmp -s "$p.exe" "$p.after.exe" ||
		fail "restored exe is $(cat "$p.after.exe"), was $(cat "$p.exe")"
	cmp -s "$p.timens" "$p.after.timens" ||
		fail "the restored process's time namespace is $(cat "$p.after.timens")'s, was $(cat "$p.timens")'s"
	cmp -s "$p.comms" "$p.after.comms" ||
		fail "restored thread names differ: $(diff "$p.comms" "$p.after.comms" | tr '\n' ' ')"
}

# ckpt_cycle PID MODE IMG [notchild]: dump PID (and its descendants) to IMG
# (MODE kill: ckptd kills them; leave: --leave-running, then we kill them),
# restore, and check it came back whole, the tree with the shape it had
# before the dump (restored with the options in array RESTORE_ARGS, if set).
# A tree must keep its shape from before the dump to after the restore. PID
# is a child of this shell (started with start_bg) unless
# "notchild" says so; then its exit status cannot be checked. If CYCLE_READY
# names the workload's ready file, it is removed before the restore: see
# check_resumed. A scenario may define after_leave PID, run in leave mode
# between the dump and the kill.
ckpt_cycle() {
	local pid=$1 mode=$2 img=$3 child=${4:-child} rc lines
	local args=()
	[ "$mode" = leave ] && args=(--leave-running)
	record_state "$pid" "$T/before"
	tree_shape "$pid" >"$T/before.tree"
	alive "$pid" || fail "pid $pid finished before the dump; make the workload longer"
	rc=0
	run_ckptd dump "$pid" -D "$img" "${args[@]}" || rc=$?
	[ "$rc" = 0 ] || fail "dump of pid $pid failed with exit $rc: $(ckptd_error_line)"
	[ -d "$img" ] || fail "dump succeeded but $img is not a directory"
	[ -e "$img/manifest.json" ] || fail "dump succeeded but $img has no manifest.json"
	lines=$(wc -l <"$CKPTD_OUT")
	[ "$lines" = 1 ] || log "warning: dump printed $lines lines on stdout, expected one summary line"
	log "dump: $(head -c 300 "$CKPTD_OUT")"
	show_inspect "$img"

	case $mode in
	kill)
		wait_gone "$pid" 10 "the dumped process (ckptd should have killed it)"
		wait_tree_gone "$T/before.tree" "$pid" "after the dump (ckptd should have killed the tree)"
		if [ "$child" = child ]; then
			child_status "$pid"
			[ "$CHILD_STATUS" = 137 ] ||
				fail "the dumped process ended with status $CHILD_STATUS, not by SIGKILL (137)"
		fi
		;;
	leave)
		alive "$pid" || fail "pid $pid is gone after dump --leave-running"
		check_running "$pid" "after dump --leave-running"
		record_state "$pid" "$T/left"
		[ "${TRANSIENT_THREADS:-0}" = 1 ] || cmp -s "$T/before.tids" "$T/left.tids" ||
			fail "threads after dump --leave-running are [$(cat "$T/left.tids")], were [$(cat "$T/before.tids")]"
		compare_tree "$pid" "$T/before.tree" "after dump --leave-running"
		check_tree_running "$T/before.tree" "after dump --leave-running"
		! declare -F after_leave >/dev/null || after_leave "$pid"
		kill -9 "$pid"
		kill_tree "$T/before.tree"
		wait_gone "$pid" 10 "the original after SIGKILL"
		wait_tree_gone "$T/before.tree" "$pid" "the original after SIGKILL"
		if [ "$child" = child ]; then
			child_status "$pid"
			[ "$CHILD_STATUS" = 137 ] ||
				fail "the original ended with status $CHILD_STATUS before we killed it"
		fi
		;;
	*) fail "ckpt_cycle: unknown mode $mode" ;;
	esac

	if [ -n "${CYCLE_READY:-}" ]; then
		rm -f "$CYCLE_READY"
	fi
	rc=0
	run_ckptd restore -D "$img" ${RESTORE_ARGS[@]+"${RESTORE_ARGS[@]}"} || rc=$?
	[ "$rc" = 0 ] || fail "restore failed with exit $rc: $(ckptd_error_line)"
	if ! alive "$pid"; then
		# A snapshot near the end of a run: on a loaded machine the restored
		# process may finish before we look. Its outputs, compared with the
		# uninterrupted run's by the caller, say whether it did so rightly.
		# Only run_scenario (which sets CYCLE_READY) compares outputs.
		[ -n "${CYCLE_READY+set}" ] || fail "no process with pid $pid after restore"
		log "the restored pid $pid has already ended; its outputs will tell"
		return 0
	fi
	E2E_PIDS+=("$pid")
	compare_state "$pid" "$T/before"
	check_running "$pid" "the restored process"
	compare_tree "$pid" "$T/before.tree" "after restore"
	check_tree_running "$T/before.tree" "the restored tree"
	if declare -F after_restore >/dev/null; then
		after_restore "$pid"
	fi
	log "restored pid $pid with threads [$(cat "$T/before.tids")]"
}

# check_resumed: the restored process went on from where it was, and did not
# start over (it would have written its ready file again).
check_resumed() {
	[ ! -e "$CYCLE_READY" ] ||
		fail "the restored process wrote its ready file again: it started over instead of resuming"
}

# first_difference A B: says where two files part, for people.
first_difference() {
	local a=$1 b=$2 off
	cmp "$a" "$b" >&2 || true
	if grep -Iq . "$a" 2>/dev/null && grep -Iq . "$b" 2>/dev/null; then
		diff -u "$a" "$b" | head -n 30 >&2 || true
	else
		off=$(cmp "$a" "$b" 2>/dev/null | sed -n 's/.* byte \([0-9]*\),.*/\1/p' || true)
		if [ -n "$off" ]; then
			off=$(((off - 1) / 16 * 16))
			printf -- '--- expected at %d:\n' "$off" >&2
			od -A d -t x1 -j "$off" -N 64 "$a" >&2 || true
			printf -- '--- got:\n' >&2
			od -A d -t x1 -j "$off" -N 64 "$b" >&2 || true
		fi
		printf 'sizes: expected %s, got %s\n' "$(stat -c %s "$a")" "$(stat -c %s "$b")" >&2
	fi
}

# compare_outputs REFDIR RUNDIR FILE...: byte for byte.
compare_outputs() {
	local ref=$1 run=$2 f
	shift 2
	for f in "$@"; do
		[ -e "$run/$f" ] || fail "the restored run wrote no $f"
		if ! cmp -s "$ref/$f" "$run/$f"; then
			first_difference "$ref/$f" "$run/$f"
			fail "$f differs from the uninterrupted run's"
		fi
	done
}

# last_line_pass FILE: the workload's own verdict.
last_line_pass() {
	local last
	last=$(tail -n 1 "$1" 2>/dev/null || true)
	[ "$last" = PASS ] || fail "$(basename "$1") says: ${last:-nothing}"
}

# -------------------------------------------------------------- scenarios

# run_scenario MODE: a workload checkpointed at a random moment.
#
# The scenario script defines:
#   launch DIR       start the workload (start_bg) with its files in DIR
#   OUTPUTS=(...)    files in DIR that must match the uninterrupted run's
# and may define:
#   ready DIR PID    wait until it is worth a snapshot (default: DIR/ready appears)
#   verify DIR       more checks on a finished run
run_scenario() {
	local mode=$1 pid t_ready t_end dur delay max
	declare -F launch >/dev/null || fail "the scenario defines no launch function"
	declare -F ready >/dev/null || ready() { wait_ready "$2" "$1/ready"; }
	declare -F verify >/dev/null || verify() { :; }

	mkdir -p "$T/ref" "$T/run"
	log "uninterrupted run"
	launch "$T/ref"
	pid=$BG_PID
	ready "$T/ref" "$pid"
	t_ready=$(now_ms)
	child_status "$pid"
	t_end=$(now_ms)
	[ "$CHILD_STATUS" = 0 ] || fail "the uninterrupted run failed with status $CHILD_STATUS"
	verify "$T/ref"
	dur=$((t_end - t_ready))
	log "uninterrupted run: ${dur} ms after ready"

	log "checkpointed run ($mode)"
	launch "$T/run"
	pid=$BG_PID
	ready "$T/run" "$pid"
	max=$((dur * 6 / 10))
	[ "$max" -ge 200 ] || max=200
	rand_between 200 "$max"
	delay=$RAND
	log "snapshot ${delay} ms after ready (of ${dur} ms)"
	sleep_ms "$delay"
	CYCLE_READY=
	[ -e "$T/run/ready" ] && CYCLE_READY=$T/run/ready
	ckpt_cycle "$pid" "$mode" "$T/img"
	wait_gone "$pid" $((30 + 4 * dur / 1000)) "the restored process"
	[ -z "$CYCLE_READY" ] || check_resumed
	compare_outputs "$T/ref" "$T/run" "${OUTPUTS[@]}"
	verify "$T/run"
	log "PASS: $mode, snapshot at ${delay} ms"
}

# ------------------------------------------------------------------ holder

HOLDER_AS=()

# holder_start DIR [OPTIONS...]: a holder in DIR; sets HOLDER_PID, HOLDER_TIDS.
# HOLDER_BIN runs another copy of the holder binary; the words in array
# HOLDER_AS (like setpriv ...) run it as someone else.
holder_start() {
	local dir=$1
	shift
	mkdir -p "$dir"
	start_bg "$dir" "${HOLDER_AS[@]}" "${HOLDER_BIN:-$WORKLOADS/holder}" "$dir/out" "$dir/ready" "$dir" "$@"
	HOLDER_PID=$BG_PID
	wait_ready "$HOLDER_PID" "$dir/ready"
	HOLDER_TIDS=$(cut -d' ' -f2- "$dir/ready")
	E2E_SHOW+=("$dir/out")
}

# holder_finish PID DIR [TIDS]: SIGUSR1 makes it check itself; it must say
# PASS and report TIDS (default: the last holder_start's).
holder_finish() {
	local pid=$1 dir=$2 tids=${3:-$HOLDER_TIDS}
	alive "$pid" || fail "holder $pid is gone before its check"
	kill -USR1 "$pid"
	wait_gone "$pid" 30 "holder $pid after SIGUSR1"
	last_line_pass "$dir/out"
	grep -qx "tids $tids" "$dir/out" || fail "holder $pid reports other TIDs than it started with"
}

# holder_image IMG DIR [OPTIONS...]: a holder dumped (and killed) into IMG.
holder_image() {
	local img=$1 dir=$2 rc=0
	shift 2
	holder_start "$dir" "$@"
	record_state "$HOLDER_PID" "$T/holder"
	run_ckptd dump "$HOLDER_PID" -D "$img" || rc=$?
	[ "$rc" = 0 ] || fail "dump of the holder failed with exit $rc: $(ckptd_error_line)"
	wait_gone "$HOLDER_PID" 10 "the dumped holder"
	child_status "$HOLDER_PID"
	[ "$CHILD_STATUS" = 137 ] ||
		fail "the dumped holder ended with status $CHILD_STATUS, not by SIGKILL (137)"
}

# pids_free PID...: after a failed restore nothing may hold the saved ids.
pids_free() {
	local p deadline
	deadline=$(($(now_ms) + 3000))
	for p in "$@"; do
		while [ -e "/proc/$p" ]; do
			[ "$(now_ms)" -le "$deadline" ] ||
				fail "pid $p is in use after a failed restore: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
			sleep 0.02
		done
	done
}

# A shared library holder does not load itself, to map from a copy.
pick_library() {
	local l
	for l in /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1 \
		/usr/lib/x86_64-linux-gnu/libm.so.6 /lib/x86_64-linux-gnu/libm.so.6; do
		if [ -e "$l" ]; then
			readlink -f "$l"
			return
		fi
	done
	fail "no shared library found to copy"
}
