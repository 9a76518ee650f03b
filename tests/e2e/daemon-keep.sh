#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon-keep: retention. A workload whose memory changes all the time is
# watched every second, keeping 3 versions. Once version 6 (or later)
# exists:
#   - `versions` shows exactly 3 versions, the newest ones: consecutive
#     numbers, ascending, each state "ok";
#   - versions/ holds exactly those 3 committed directories, "latest" names
#     the newest, and `ckptd inspect` reads each;
#   - packs/ holds only packs that those versions' manifests list, and every
#     pack they list is there;
#   - `list` shows the job with versions 3, keep 3, interval 1 s, its pid.
# Then `unwatch`: the job is gone from `list` and from the state directory,
# no snapshot comes after, and the workload runs on untraced and finishes
# with its own check passed (six snapshots did not change a byte of it).
# shellcheck source=daemon-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon-lib.sh"
e2e_init daemon-keep
daemon_init
daemon_start

# 32 MiB rewritten in full many times a second: every version adds a pack
# and retention must free the old ones. About 23 s alone.
mkdir -p "$T/w"
start_bg "$T/w" "$WORKLOADS/bigmem" "$T/w/out" "$T/w/ready" 32 100000
pid=$BG_PID
wait_ready "$pid" "$T/w/ready"

ck_json watch "$pid" --name keep --every 1s --keep 3
[ "$(jq_py "$CKPTD_OUT" "d['job']['name']")" = keep ] || fail "watch --json does not describe job 'keep'"
jobdir=$(job_dir keep)
[ -d "$jobdir" ] || fail "watch succeeded but $jobdir does not exist"

wait_newest keep 6 40
alive "$pid" || fail "the workload ended before version 6; make it longer"

# The view: `versions`, then the directories, then `versions` again; the
# same both times and nothing half-written, or we look again.
CHECK_PY='
import json, os, sys
jobdir, before, after, vlist, plist, latest = sys.argv[1:7]
a = json.load(open(before))
b = json.load(open(after))
na = [v["number"] for v in a["versions"]]
if na != [v["number"] for v in b["versions"]]:
    sys.exit(75)  # a snapshot committed meanwhile
entries = sorted(open(vlist).read().split())
if any(e.startswith(".") for e in entries):
    sys.exit(75)  # one is being written
vdir = os.path.join(jobdir, "versions")
problems = []
def bad(msg):
    problems.append(msg)
if len(na) != 3:
    bad("versions shows %d versions %s, expected 3" % (len(na), na))
if na != sorted(na):
    bad("versions are not in ascending order: %s" % na)
if na and na != list(range(na[0], na[0] + len(na))):
    bad("versions are not consecutive: %s" % na)
if na and na[-1] < 6:
    bad("the newest version is %d, expected 6 or more" % na[-1])
for v in a["versions"]:
    if v.get("state") != "ok":
        bad("version %s is %s: %s" % (v["number"], v.get("state"), v.get("reason")))
names = ["%06d" % n for n in na]
if entries != names:
    bad("versions/ holds %s; versions says %s" % (entries, names))
job = a.get("job", {})
if job.get("newest") != (na[-1] if na else None):
    bad("the job says newest %s, its versions end at %s" % (job.get("newest"), na[-1:]))
if job.get("versions") != len(na):
    bad("the job says %s versions, versions lists %d" % (job.get("versions"), len(na)))
target = open(latest).read().strip()
if na and os.path.normpath(target) != os.path.join("versions", "%06d" % na[-1]):
    bad("latest -> %s, the newest version is %06d" % (target, na[-1]))
# Packs: the job store holds what kept versions use, nothing else.
listed, own = set(), []
for n in names:
    try:
        m = json.load(open(os.path.join(vdir, n, "manifest.json")))
    except FileNotFoundError:
        if not os.path.exists(os.path.join(vdir, n)):
            sys.exit(75)  # retention ran since
        bad("version %s has no manifest.json" % n)
        continue
    except (OSError, ValueError) as e:
        bad("version %s: manifest.json: %s" % (n, e))
        continue
    packs = set("%s.pack" % p for p in m.get("packs", []))
    if m.get("store", "job") == "job":
        listed |= packs
    else:
        own.append(n)
        for p in packs:
            if not os.path.exists(os.path.join(vdir, n, "packs", p)):
                bad("version %s lists pack %s, which it does not hold" % (n, p))
present = set(p for p in open(plist).read().split() if not p.startswith("."))
for p in sorted(present - listed):
    bad("packs/%s is used by no kept version" % p)
for p in sorted(listed - present):
    bad("a kept version lists pack %s, which packs/ does not hold" % p)
if own:
    print("note: versions %s carry their own packs (store \"self\")" % own)
print("versions %s, packs %s" % (na, sorted(present)))
for p in problems:
    print("FAIL: " + p)
sys.exit(1 if problems else 0)
'
ok=0
for attempt in $(seq 1 40); do
	ck_quiet versions keep --json || fail "ckptd versions keep failed: $(cat "$T/poll.err")"
	cp "$T/poll.out" "$T/versions-before.json"
	ls -A "$jobdir/versions" >"$T/versions.ls"
	ls -A "$jobdir/packs" >"$T/packs.ls"
	readlink "$jobdir/latest" >"$T/latest.ls" || fail "job keep has no latest link"
	ck_quiet versions keep --json || fail "ckptd versions keep failed: $(cat "$T/poll.err")"
	rc=0
	"$PYTHON" -c "$CHECK_PY" "$jobdir" "$T/versions-before.json" "$T/poll.out" \
		"$T/versions.ls" "$T/packs.ls" "$T/latest.ls" >"$T/check.out" 2>&1 || rc=$?
	if [ "$rc" = 75 ]; then
		sleep_ms 90
		continue
	fi
	cat "$T/check.out" >&2
	E2E_SHOW+=("$T/versions-before.json")
	[ "$rc" = 0 ] || fail "retention: $(grep -m1 '^FAIL: ' "$T/check.out" || tail -n 1 "$T/check.out")"
	ok=1
	log "view taken at attempt $attempt"
	break
done
[ "$ok" = 1 ] || fail "never saw the job between two snapshots in 40 tries"

for v in $(jq_py "$T/versions-before.json" "[v['number'] for v in d['versions']]"); do
	vdir=$jobdir/versions/$(printf '%06d' "$v")
	# Retention may remove the oldest while we read it: only a kept one must read.
	if ! "$CKPTD" inspect "$vdir" </dev/null >"$T/inspect-$v.out" 2>&1 && [ -d "$vdir" ]; then
		E2E_SHOW+=("$T/inspect-$v.out")
		fail "ckptd inspect of version $v fails"
	fi
done

ck_json list
[ "$(jq_py "$CKPTD_OUT" "job('keep')['pid']")" = "$pid" ] || fail "list shows job keep with another pid"
[ "$(jq_py "$CKPTD_OUT" "job('keep')['keep']")" = 3 ] || fail "list shows job keep with keep != 3"
[ "$(jq_py "$CKPTD_OUT" "job('keep')['interval_ns']")" = 1000000000 ] ||
	fail "list shows job keep with interval_ns $(jq_py "$CKPTD_OUT" "job('keep')['interval_ns']"), not 1 s"
n=$(jq_py "$CKPTD_OUT" "job('keep')['versions']")
[ "$n" = 3 ] || [ "$n" = 4 ] || fail "list shows job keep with $n versions, expected 3 (4 for a moment)"
state=$(jq_py "$CKPTD_OUT" "job('keep')['state']")
case $state in
watching | snapshotting) ;;
*) fail "job keep is '$state', expected watching or snapshotting" ;;
esac

ck_ok unwatch keep
job_listed keep && fail "job keep is still listed after unwatch"
[ ! -e "$jobdir" ] || fail "unwatch left $jobdir: $(find "$jobdir" -maxdepth 2 | head -5)"
sleep 2.5
[ ! -e "$jobdir" ] || fail "$jobdir came back after unwatch: a snapshot ran after it"
check_running_soon "$pid" "the workload after unwatch"
daemon_healthy unwatch

wait_gone "$pid" 120 "the workload"
child_status "$pid"
[ "$CHILD_STATUS" = 0 ] || fail "the workload ended with status $CHILD_STATUS"
last_line_pass "$T/w/out"
daemon_stop
log "PASS"
