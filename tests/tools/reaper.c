// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * reaper: runs a test so that nothing it starts outlives it.
 *
 *     reaper CMD [ARGS...]
 *
 * Becomes a child subreaper, runs CMD, and reaps every orphan re-parented to
 * it (a restored process is one: `ckptd restore` exits and leaves it to us).
 * When CMD exits, every descendant still alive is SIGKILLed and reaped, and
 * the exit status is CMD's (128+N if a signal N ended it). An orphan that
 * ends badly (a signal other than SIGKILL, a non-zero status) is reported
 * on stderr: nobody else can see how a restored process died. A SIGTERM, SIGINT
 * or SIGHUP (meson on a timeout) is passed on to CMD and the strays are
 * killed at once, before a SIGKILL to our process group can come.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 65536

static pid_t self;
static pid_t *killed; /* distinct pids we SIGKILLed */
static size_t n_killed;

static bool was_killed(pid_t pid);

/* The parent of pid from /proc/PID/stat (after the last ')': comm may hold anything). */
static pid_t parent_of(pid_t pid, char *state)
{
	char path[64], buf[1024], *p;
	FILE *f;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')) || sscanf(p + 1, " %c %d", state, &ppid) != 2)
		return -1;
	return ppid;
}

/*
 * SIGKILLs every live descendant except `spare` (0: none); returns how many
 * descendants (zombies included) it saw.
 */
static size_t kill_descendants(pid_t spare)
{
	static pid_t pids[MAX_PROCS], ppids[MAX_PROCS];
	static char states[MAX_PROCS];
	size_t n = 0, found = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d) {
		perror("reaper: /proc");
		return 0;
	}
	while ((de = readdir(d)) && n < MAX_PROCS) {
		pid_t pid = (pid_t) strtol(de->d_name, NULL, 10);
		if (pid <= 0)
			continue;
		ppids[n] = parent_of(pid, &states[n]);
		if (ppids[n] > 0)
			pids[n++] = pid;
	}
	closedir(d);

	for (size_t i = 0; i < n; i++) {
		pid_t p = ppids[i];
		int depth = 0;

		/* Walk up until we reach ourselves, init, or a pid we do not know. */
		while (p != self && p > 1 && depth++ < 4096) {
			size_t j;
			for (j = 0; j < n && pids[j] != p; j++)
				;
			if (j == n)
				break;
			p = ppids[j];
		}
		if (p != self)
			continue;
		found++;
		if (pids[i] == spare || states[i] == 'Z')
			continue;
		if (kill(pids[i], SIGKILL) == 0 && !was_killed(pids[i]) && n_killed < MAX_PROCS)
			killed[n_killed++] = pids[i];
	}
	return found;
}

static bool was_killed(pid_t pid)
{
	for (size_t k = 0; k < n_killed; k++)
		if (killed[k] == pid)
			return true;
	return false;
}

/*
 * An orphan that crashed or failed is worth a line: a restored process is
 * no one else's child, so no one else can tell how it ended.
 */
static void report_orphan(const siginfo_t *si)
{
	char path[64], comm[64] = "?";
	FILE *f;

	if ((si->si_code == CLD_EXITED && si->si_status == 0) ||
	    (si->si_code == CLD_KILLED && si->si_status == SIGKILL) || was_killed(si->si_pid))
		return;
	snprintf(path, sizeof(path), "/proc/%d/comm", si->si_pid);
	if ((f = fopen(path, "re"))) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
	}
	if (si->si_code == CLD_EXITED)
		fprintf(stderr, "reaper: orphan %d (%s) exited with status %d\n", si->si_pid, comm,
			si->si_status);
	else
		fprintf(stderr, "reaper: orphan %d (%s) was killed by signal %d (%s)%s\n",
			si->si_pid, comm, si->si_status, strsignal(si->si_status),
			si->si_code == CLD_DUMPED ? ", core dumped" : "");
}

/* Reaps what can be reaped; returns false once we have no children at all. */
static bool reap(pid_t cmd, int *cmd_status, bool *cmd_done)
{
	for (;;) {
		siginfo_t si = {0};
		int status;
		pid_t pid;

		/* Look first (the zombie still has its /proc entry), then reap. */
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return false; /* ECHILD */
		}
		if (si.si_pid == 0)
			return true;
		if (si.si_pid != cmd)
			report_orphan(&si);
		pid = waitpid(si.si_pid, &status, __WALL);
		if (pid == cmd) {
			*cmd_status = status;
			*cmd_done = true;
		}
	}
}

int main(int argc, char **argv)
{
	sigset_t set, old;
	pid_t cmd;
	int status = 0;
	bool done = false;
	struct timespec tick = {0, 100000000};

	if (argc < 2) {
		fprintf(stderr, "usage: reaper CMD [ARGS...]\n");
		return 2;
	}
	self = getpid();
	killed = calloc(MAX_PROCS, sizeof(*killed));
	if (!killed || prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("reaper: PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0) {
		perror("reaper: sigprocmask");
		return 1;
	}

	cmd = fork();
	if (cmd < 0) {
		perror("reaper: fork");
		return 1;
	}
	if (cmd == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "reaper: exec %s: %m\n", argv[1]);
		_exit(127);
	}

	/* While CMD runs: reap orphans as they die; pass termination on to CMD. */
	while (!done) {
		siginfo_t si;
		int sig = sigtimedwait(&set, &si, &tick);

		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
			fprintf(stderr, "reaper: got signal %d, stopping the test\n", sig);
			kill(cmd, sig);
			kill_descendants(cmd);
		} else if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			perror("reaper: sigtimedwait");
		}
		/* Polled as well: a SIGCHLD merged with another is not lost this way. */
		if (!reap(cmd, &status, &done))
			break;
	}

	/* CMD is gone: no one else may stay. */
	for (int rounds = 0;; rounds++) {
		siginfo_t si;

		kill_descendants(0);
		if (!reap(cmd, &status, &done))
			break; /* no children left, so no descendants either */
		if (rounds == 100) {
			fprintf(stderr,
				"reaper: descendants survive SIGKILL for 10 s; giving up\n");
			break;
		}
		(void) sigtimedwait(&set, &si, &tick);
	}
	if (n_killed)
		fprintf(stderr, "reaper: killed %zu stray process%s\n", n_killed,
			n_killed == 1 ? "" : "es");
	if (!done)
		return 1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
