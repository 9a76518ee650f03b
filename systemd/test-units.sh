#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# systemd-units: the units and the tmpfiles.d entry that `meson install`
# installs land where they should, hold no unexpanded @variables@, name the
# installed binary, and are valid: `systemd-analyze verify` on the installed
# units (ExecStart pointed at the built binary, so verify finds it), and
# systemd-tmpfiles creating the state directory under a scratch root.
#
# systemd-analyze verify exits 0 on a bad value ("Failed to parse ...,
# ignoring") or an unknown key, and prints them as "FILE:LINE: ..."; so a
# line about one of our files fails the test as well as a non-zero exit.
# Lines about other units (missing dependencies on a machine that does not
# boot with systemd) are shown and tolerated.
#
# Environment (from systemd/meson.build): CKPTD, BUILD_ROOT, MESON, BINDIR,
# UNITDIR, TMPFILESDIR, STATE_DIR, SOCKET_PATH. CKPT_KEEP=1 keeps the
# scratch directory.
set -euo pipefail

: "${CKPTD:?}" "${BUILD_ROOT:?}" "${BINDIR:?}" "${UNITDIR:?}" "${TMPFILESDIR:?}"
: "${STATE_DIR:?}" "${SOCKET_PATH:?}"

log() { printf 'systemd-units: %s\n' "$*" >&2; }
fail() {
	log "FAIL: $*"
	exit 1
}
skip() {
	log "SKIP: $*"
	exit 77
}

command -v systemd-analyze >/dev/null || skip "no systemd-analyze (install the systemd package)"
[ -n "${MESON:-}" ] || skip "meson was not found at configure time"

T=$(mktemp -d "${TMPDIR:-/tmp}/ckptd-units.XXXXXX")
cleanup() {
	if [ "${CKPT_KEEP:-0}" = 1 ]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

# ------------------------------------------------------------------ install
D=$T/dest
"$MESON" install -C "$BUILD_ROOT" --no-rebuild --destdir "$D" >"$T/install.log" 2>&1 ||
	{
		cat "$T/install.log" >&2
		fail "meson install --destdir failed"
	}

service=$D$UNITDIR/ckptd.service
socket=$D$UNITDIR/ckptd.socket
tmpfiles=$D$TMPFILESDIR/ckptd.conf
for f in "$service" "$socket" "$tmpfiles"; do
	[ -f "$f" ] || fail "meson install put no ${f##*/} in ${f%/*}: $(cd "$D" && find . -type f | head -20)"
	[ "$(stat -c %a "$f")" = 644 ] || fail "$f has mode $(stat -c %a "$f"), not 644"
	! grep -n '@[a-z_]*@' "$f" >&2 || fail "$f holds unexpanded @variables@"
done
log "installed: ${service#"$D"} ${socket#"$D"} ${tmpfiles#"$D"}"

# The service runs the binary that was installed beside it.
exec_line=$(grep '^ExecStart=' "$service") || fail "$service has no ExecStart="
[ "$exec_line" = "ExecStart=$BINDIR/ckptd serve" ] ||
	fail "$service says '$exec_line', expected 'ExecStart=$BINDIR/ckptd serve'"
[ -x "$D$BINDIR/ckptd" ] || fail "the unit runs $BINDIR/ckptd but meson install put none there"

# What the contract fixes, in case an edit loses it.
want() {
	local file=$1 line=$2
	grep -qx -- "$line" "$file" || fail "${file##*/} lacks '$line'"
}
want "$service" Type=notify
want "$service" NotifyAccess=all
want "$service" Restart=on-failure
want "$service" KillMode=process
want "$socket" "ListenStream=$SOCKET_PATH"
want "$socket" SocketMode=0666
want "$socket" DirectoryMode=0755
want "$tmpfiles" "d $STATE_DIR 0700 root root -"

# ------------------------------------------------------------------- verify
# verify_units DIR: systemd-analyze verify on DIR's ckptd.service and
# ckptd.socket; returns non-zero (and says why) on an error.
verify_units() {
	local dir=$1 rc=0 line bad=0
	systemd-analyze verify --man=no "$dir/ckptd.service" "$dir/ckptd.socket" \
		>"$dir/verify.out" 2>&1 || rc=$?
	while IFS= read -r line; do
		case $line in
		"$dir"/ckptd.*:* | ckptd.service:* | ckptd.socket:*)
			log "verify: $line"
			bad=1
			;;
		*) log "verify (tolerated): $line" ;;
		esac
	done <"$dir/verify.out"
	if [ "$rc" != 0 ]; then
		log "systemd-analyze verify exited with $rc"
		return 1
	fi
	[ "$bad" = 0 ]
}

mkdir "$T/units"
sed "s|^ExecStart=$BINDIR/ckptd |ExecStart=$CKPTD |" "$service" >"$T/units/ckptd.service"
cp "$socket" "$T/units/ckptd.socket"
grep -qx "ExecStart=$CKPTD serve" "$T/units/ckptd.service" || fail "could not point ExecStart at $CKPTD"
verify_units "$T/units" || fail "systemd-analyze verify finds errors in the installed units"
log "systemd-analyze verify: no errors"

# The check itself catches what verify only warns about.
mkdir "$T/broken"
sed 's/^KillMode=.*/KillMode=sometimes/' "$T/units/ckptd.service" >"$T/broken/ckptd.service"
cp "$T/units/ckptd.socket" "$T/broken/ckptd.socket"
! verify_units "$T/broken" 2>/dev/null || fail "the verify check accepts KillMode=sometimes"

# ----------------------------------------------------------------- tmpfiles
if command -v systemd-tmpfiles >/dev/null; then
	mkdir "$T/root"
	systemd-tmpfiles --create --root="$T/root" "$tmpfiles" >"$T/tmpfiles.out" 2>&1 ||
		{
			cat "$T/tmpfiles.out" >&2
			fail "systemd-tmpfiles --create rejects $tmpfiles"
		}
	! grep . "$T/tmpfiles.out" >&2 || fail "systemd-tmpfiles complains about $tmpfiles"
	[ -d "$T/root$STATE_DIR" ] || fail "systemd-tmpfiles did not create $STATE_DIR"
	got=$(stat -c '%a %u %g' "$T/root$STATE_DIR")
	[ "$got" = "700 0 0" ] || fail "$STATE_DIR was created with mode/uid/gid $got, not 700 0 0"
	log "systemd-tmpfiles: $STATE_DIR 0700 root"
else
	log "no systemd-tmpfiles: the tmpfiles.d entry is not checked"
fi

log PASS
