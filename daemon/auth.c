// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Who may do what. Root may do anything. Another user may watch a process
 * only if it could ptrace it itself, as the kernel's own check would say
 * (same real, effective, saved and fs ids, no capabilities the caller lacks,
 * dumpable), and may touch only its own jobs.
 */
#define LOG_PREFIX "auth: "

#include <string.h>
#include <sys/stat.h>

#include "daemon.h"
#include "proc.h"

bool auth_may_trace(uid_t uid, gid_t gid, pid_t pid, const char **ret_reason)
{
	struct proc_status st = {};
	char path[32];
	struct stat sb;
	bool ok = false;

	if (uid == 0)
		return true;
	*ret_reason = "it is not your process";
	if (proc_read_status(pid, &st) < 0)
		return false;
	for (int i = 0; i < 4; i++)
		if (st.uid[i] != uid || st.gid[i] != gid)
			goto out;
	if (st.cap_prm != 0) {
		*ret_reason = "it holds capabilities you do not have";
		goto out;
	}
	/* A process that is not dumpable has its /proc entry owned by root. */
	snprintf(path, sizeof(path), "/proc/%d", (int) pid);
	if (stat(path, &sb) < 0 || sb.st_uid != uid) {
		*ret_reason = "it is not dumpable (it changed its credentials or asked not to be traced)";
		goto out;
	}
	ok = true;
out:
	proc_status_done(&st);
	return ok;
}

bool auth_owns(uid_t uid, const struct job *j)
{
	return uid == 0 || j->owner == uid;
}
