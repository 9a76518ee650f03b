#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tree-unix-socket: a python3 parent listening on a named unix socket and a
# child connected to it (tests/workloads/unixconn.py), requests and answers
# queued both ways. After a restore at a random moment the connection goes
# on, and the listener, bound to its name again, takes a new connection.
#     tree-unix-socket.sh kill|leave
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mode=$(e2e_mode "${1:-}")
e2e_init "tree-unix-socket-$mode"

need_python3
launch() { start_bg "$1" "$PYTHON" "$WORKLOADS_SRC/unixconn.py" "$1/out" "$1/ready" "$1/sock"; }
OUTPUTS=(out)
verify() { last_line_pass "$1/out"; }
# The name is bound again by the restore, where it was.
after_restore() {
	[ -S "$T/run/sock" ] || fail "$T/run/sock is not a socket after the restore"
}
run_scenario "$mode"
