// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * clocks: computes a hash chain while reading CLOCK_MONOTONIC and
 * CLOCK_BOOTTIME through the vDSO (glibc's clock_gettime) at every step.
 * Neither may ever go back (a restore after a reboot, or out of a time
 * namespace with offsets, must not make them), and every so often a
 * reading by the clock_gettime system call must fall between two vDSO
 * readings: the vDSO answers in the same time namespace as the kernel.
 * Each reading is appended to OUT.log (for people and the e2e test); the
 * result itself never depends on time.
 *
 *     clocks OUT [READY] [MIN_MONOTONIC_SECS=0] [STEPS=12000000]
 */
#include <sys/syscall.h>
#include <time.h>

#include "workload.h"

#define NSEC 1000000000LL
#define LOG_EVERY 4096
#define SYSCALL_EVERY 64

static int64_t vdso_ns(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts) < 0)
		wl_die("clock_gettime(%d): %m", (int) clock);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

static int64_t syscall_ns(clockid_t clock)
{
	struct timespec ts;

	if (syscall(SYS_clock_gettime, clock, &ts) < 0)
		wl_die("clock_gettime(%d) system call: %m", (int) clock);
	return ts.tv_sec * NSEC + ts.tv_nsec;
}

/* The system call's reading must lie between two vDSO readings of the same clock. */
static void check_vdso_agrees(clockid_t clock, const char *name)
{
	int64_t before = vdso_ns(clock), kernel = syscall_ns(clock), after = vdso_ns(clock);

	wl_check(before <= kernel && kernel <= after,
		 "%s: the vDSO says %lld..%lld ns, the kernel %lld ns (another time namespace?)",
		 name, (long long) before, (long long) after, (long long) kernel);
}

int main(int argc, char **argv)
{
	int a = wl_init("clocks", argc, argv, "[MIN_MONOTONIC_SECS] [STEPS]");
	int64_t min_mono = (int64_t) wl_arg(argc, argv, a, 0) * NSEC;
	unsigned long steps = wl_arg(argc, argv, a + 1, 12000000);
	int64_t last[2] = { 0, 0 };
	uint64_t chain = 1;
	char log_path[4096];
	int log_fd;

	snprintf(log_path, sizeof(log_path), "%s.log", W.out);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		wl_die("open %s: %m", log_path);
	wl_ready(NULL);
	/* The first failure ends the loop: its message is the one that matters. */
	for (unsigned long i = 0; i < steps && !W.fail[0]; i++) {
		int64_t now[2] = { vdso_ns(CLOCK_MONOTONIC), vdso_ns(CLOCK_BOOTTIME) };

		wl_check(now[0] >= min_mono, "CLOCK_MONOTONIC %lld ns is below the %lld ns it started above",
			 (long long) now[0], (long long) min_mono);
		wl_check(now[0] >= last[0], "CLOCK_MONOTONIC went back from %lld to %lld ns at step %lu",
			 (long long) last[0], (long long) now[0], i);
		wl_check(now[1] >= last[1], "CLOCK_BOOTTIME went back from %lld to %lld ns at step %lu",
			 (long long) last[1], (long long) now[1], i);
		last[0] = now[0];
		last[1] = now[1];
		if (i % SYSCALL_EVERY == 0) {
			check_vdso_agrees(CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
			check_vdso_agrees(CLOCK_BOOTTIME, "CLOCK_BOOTTIME");
		}
		if (i % LOG_EVERY == 0) {
			char line[64];
			int n = snprintf(line, sizeof(line), "%lld %lld\n", (long long) now[0],
					 (long long) now[1]);

			if (wl_write_all(log_fd, line, (size_t) n) < 0)
				wl_die("write %s: %m", log_path);
		}
		for (int k = 0; k < 64; k++)
			chain = hash2(chain, i * 64 + (uint64_t) k);
	}
	close(log_fd);
	wl_printf("steps %lu chain %016llx\n", steps, (unsigned long long) chain);
	wl_printf("CLOCK_MONOTONIC and CLOCK_BOOTTIME never went back; the vDSO agreed with the "
		  "kernel\n");
	return wl_finish();
}
