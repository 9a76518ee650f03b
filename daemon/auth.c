// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Who may do what. Root may do anything. Another user may watch a process
 * only if it could ptrace it itself, as the kernel's own check would say
 * (same real, effective, saved and fs ids, no capabilities, dumpable), and
 * every descendant too, since a snapshot takes them all; and may touch only
 * its own jobs.
 */
#define LOG_PREFIX "auth: "

#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "proc.h"
#include "snapshot.h"
#include "util.h"

/* Processes looked at before Watch gives up on a tree: as many as a snapshot takes. */
#define TREE_WALK_MAX (SNAPSHOT_MAX_MEMBERS + 1)

/*
 * A breadth-first walk down from pid. Not frozen, so it can miss a child
 * forked meanwhile: the engine checks every member again, frozen, at every
 * snapshot (dump_options.check_owner). This only refuses early and clearly.
 */
bool auth_may_trace_tree(uid_t uid, gid_t gid, pid_t pid, struct auth_refusal *ret)
{
	_cleanup_free_ pid_t *queue = NULL;
	size_t n = 0, allocated = 0;

	if (uid == 0)
		return true;
	if (GROW(queue, allocated, 1) < 0)
		return false;
	queue[n++] = pid;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ pid_t *children = NULL;
		size_t k = 0;
		int r;

		*ret = (struct auth_refusal){ .member = queue[i], .reason = "it is not your process" };
		r = proc_traceable_by(queue[i], uid, gid, &ret->uid, &ret->reason);

		/* A member gone meanwhile is no member; the root the caller named must be there. */
		if (r == 0 || (r < 0 && i == 0))
			return false;
		if (proc_read_children(queue[i], &children, &k) < 0)
			continue; /* gone meanwhile */
		if (n + k > TREE_WALK_MAX) {
			ret->reason = "its tree has too many processes";
			return false;
		}
		if (GROW(queue, allocated, n + k) < 0)
			return false;
		memcpy(queue + n, children, k * sizeof(*children));
		n += k;
	}
	return true;
}

bool auth_owns(uid_t uid, const struct job *j)
{
	return uid == 0 || j->owner == uid;
}
