// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fileio: file state a restore must bring back at the right offsets. Reads
 * INPUT in 4 KiB chunks with read(), transforms each (a rolling hash keyed by
 * a slow per-chunk key) and writes it to WORKDIR/fileio.data with plain
 * write(); appends one record per chunk to WORKDIR/fileio.log through an
 * O_APPEND fd; keeps the last 64 chunks in a scratch file it unlinked right
 * after opening, and every chunk in a sealed memfd mapped MAP_SHARED.
 *
 * After a dump with --leave-running the original may append records the
 * restored process appends again: the log check accepts a prefix replayed
 * from an earlier record, never a gap or a wrong record. fileio.data must be
 * byte-identical to an uninterrupted run's.
 *
 *     fileio OUT READY INPUT WORKDIR [WORK=1000000]
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "workload.h"

#define CHUNK 4096u
#define RING 64u
#define LOG_REC 27 /* "%08x %016lx\n" */

static uint64_t chunk_key(uint64_t n, uint64_t work)
{
	uint64_t x = n;

	for (uint64_t i = 0; i < work; i++)
		x = mix64(x ^ i);
	return x;
}

/* Rolling transform: each output byte depends on every input byte before it. */
static uint64_t transform(const uint8_t *in, uint8_t *out, size_t len, uint64_t st, uint64_t key)
{
	for (size_t i = 0; i < len; i++) {
		st = (st ^ in[i]) * 0x100000001b3ull;
		out[i] = in[i] ^ (uint8_t) (st >> 29) ^ (uint8_t) (key >> (8 * (i & 7)));
	}
	return st;
}

static uint64_t chunk_hash(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void pause_a_little(void)
{
	struct timespec ts = {0, 500000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int open_at(const char *dir, const char *name, int flags, char path[static 4096])
{
	snprintf(path, 4096, "%s/%s", dir, name);
	return open(path, flags | O_CLOEXEC, 0644);
}

/* The log: records 0..n-1, where a restored process may have replayed a run of them. */
static void check_log(const char *path, const uint8_t *data, size_t size, size_t n_chunks)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t n_rec, dups = 0;
	int64_t prev = -1;

	if (fd < 0 || fstat(fd, &st) < 0)
		wl_die("open %s: %m", path);
	if (st.st_size % LOG_REC != 0) {
		wl_fail("log size %ld is not a whole number of records", (long) st.st_size);
		close(fd);
		return;
	}
	buf = malloc((size_t) st.st_size + 1);
	if (!buf || wl_read_all(fd, buf, (size_t) st.st_size) < 0)
		wl_die("read %s: %m", path);
	close(fd);
	n_rec = (size_t) st.st_size / LOG_REC;
	for (size_t i = 0; i < n_rec; i++) {
		char *rec = buf + i * LOG_REC, want[LOG_REC + 1];
		unsigned seq;

		if (sscanf(rec, "%8x", &seq) != 1 || seq >= n_chunks) {
			wl_fail("log record %zu is malformed", i);
			break;
		}
		size_t off = (size_t) seq * CHUNK, len = size - off < CHUNK ? size - off : CHUNK;
		snprintf(want, sizeof(want), "%08x %016lx\n", seq,
			 (unsigned long) chunk_hash(data + off, len));
		if (memcmp(rec, want, LOG_REC) != 0) {
			wl_fail("log record %zu (chunk %u) has the wrong contents", i, seq);
			break;
		}
		if ((int64_t) seq != prev + 1) {
			if ((int64_t) seq > prev) {
				wl_fail("log skips from chunk %ld to %u", (long) prev, seq);
				break;
			}
			dups += (size_t) (prev + 1 - seq); /* a replayed run after a restore */
		}
		prev = seq;
	}
	wl_check(prev + 1 == (int64_t) n_chunks, "log ends at chunk %ld of %zu", (long) prev,
		 n_chunks);
	if (dups)
		fprintf(stderr, "fileio: log holds %zu replayed records\n", dups);
	free(buf);
}

int main(int argc, char **argv)
{
	int a = wl_init("fileio", argc, argv, "INPUT WORKDIR [WORK=1000000]");
	char data_path[4096], log_path[4096], scratch_path[4096], link[256], target[256];
	uint8_t in_buf[CHUNK], out_buf[CHUNK], ring_buf[CHUNK];
	uint64_t work, st = 0x84222325cbf29ce4ull, running = 0;
	int in, data, logfd, scratch, mfd;
	struct stat sb;
	size_t size, n_chunks, done = 0, scratch_size = 0;
	uint8_t *stage;
	const unsigned seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

	if (argc < a + 2) {
		fprintf(stderr, "usage: fileio OUT READY INPUT WORKDIR [WORK=1000000]\n");
		return 2;
	}
	work = wl_arg(argc, argv, a + 2, 1000000);

	in = open(argv[a], O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &sb) < 0)
		wl_die("open %s: %m", argv[a]);
	size = (size_t) sb.st_size;
	n_chunks = (size + CHUNK - 1) / CHUNK;
	if (size == 0)
		wl_die("the input is empty");
	data = open_at(argv[a + 1], "fileio.data", O_WRONLY | O_CREAT | O_TRUNC, data_path);
	logfd = open_at(argv[a + 1], "fileio.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND,
			log_path);
	snprintf(scratch_path, sizeof(scratch_path), "%s/fileio.scratch", argv[a + 1]);
	(void) unlink(scratch_path);
	scratch = open_at(argv[a + 1], "fileio.scratch", O_RDWR | O_CREAT | O_EXCL, scratch_path);
	if (data < 0 || logfd < 0 || scratch < 0)
		wl_die("open in %s: %m", argv[a + 1]);
	if (unlink(scratch_path) < 0)
		wl_die("unlink %s: %m", scratch_path);

	mfd = memfd_create("fileio-stage", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0 || ftruncate(mfd, (off_t) size) < 0 || fcntl(mfd, F_ADD_SEALS, seals) < 0)
		wl_die("memfd: %m");
	stage = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (stage == MAP_FAILED)
		wl_die("mmap memfd: %m");

	wl_ready(NULL);

	for (size_t n = 0; n < n_chunks; n++) {
		size_t len = size - done < CHUNK ? size - done : CHUNK;
		char rec[LOG_REC + 1];

		if (wl_read_all(in, in_buf, len) < 0)
			wl_die("read input at chunk %zu: %m", n);
		st = transform(in_buf, out_buf, len, st, chunk_key(n, work));
		if (wl_write_all(data, out_buf, len) < 0)
			wl_die("write data at chunk %zu: %m", n);
		memcpy(stage + done, out_buf, len);
		if (pwrite(scratch, out_buf, len, (off_t) ((n % RING) * CHUNK)) != (ssize_t) len)
			wl_die("pwrite scratch: %m");
		if ((n % RING) * CHUNK + len > scratch_size)
			scratch_size = (n % RING) * CHUNK + len;
		snprintf(rec, sizeof(rec), "%08x %016lx\n", (unsigned) n,
			 (unsigned long) chunk_hash(out_buf, len));
		if (wl_write_all(logfd, rec, LOG_REC) < 0)
			wl_die("append log: %m");
		running = hash2(running, chunk_hash(out_buf, len));
		done += len;

		/* The scratch ring must hold the last RING chunks the memfd holds. */
		if (n % RING == RING - 1) {
			for (size_t k = 0; k < RING; k++) {
				size_t c = n + 1 - RING + k;
				if (pread(scratch, ring_buf, CHUNK, (off_t) ((c % RING) * CHUNK)) !=
					    CHUNK ||
				    memcmp(ring_buf, stage + c * CHUNK, CHUNK) != 0) {
					wl_fail("scratch slot of chunk %zu differs", c);
					break;
				}
			}
		}
		pause_a_little();
	}

	/* Offsets and flags as the process left them. */
	wl_check(lseek(in, 0, SEEK_CUR) == (off_t) size, "input offset is %ld, expected %zu",
		 (long) lseek(in, 0, SEEK_CUR), size);
	wl_check(lseek(data, 0, SEEK_CUR) == (off_t) size, "data offset is %ld, expected %zu",
		 (long) lseek(data, 0, SEEK_CUR), size);
	wl_check(fcntl(logfd, F_GETFL) & O_APPEND, "the log fd lost O_APPEND");
	wl_check((fcntl(data, F_GETFL) & O_ACCMODE) == O_WRONLY, "the data fd is not O_WRONLY");
	wl_check(fcntl(mfd, F_GET_SEALS) == (int) seals, "memfd seals are %#x, expected %#x",
		 fcntl(mfd, F_GET_SEALS), seals);
	wl_check(fstat(mfd, &sb) == 0 && (size_t) sb.st_size == size, "memfd size changed");
	snprintf(link, sizeof(link), "/proc/self/fd/%d", mfd);
	ssize_t tl = readlink(link, target, sizeof(target) - 1);
	target[tl > 0 ? tl : 0] = 0;
	wl_check(strcmp(target, "/memfd:fileio-stage (deleted)") == 0, "memfd is now '%s'", target);
	wl_check(fstat(scratch, &sb) == 0 && sb.st_nlink == 0,
		 "the scratch file has a name again (nlink %lu)", (unsigned long) sb.st_nlink);
	wl_check(fstat(scratch, &sb) == 0 && sb.st_size == (off_t) scratch_size,
		 "scratch file is %ld bytes, expected %zu", (long) sb.st_size, scratch_size);

	/* The data file on disk, the memfd and the running hash agree. */
	int rd = open(data_path, O_RDONLY | O_CLOEXEC);
	uint64_t h = 0;
	if (rd < 0 || fstat(rd, &sb) < 0)
		wl_die("open %s: %m", data_path);
	wl_check((size_t) sb.st_size == size, "data file is %ld bytes, expected %zu",
		 (long) sb.st_size, size);
	for (size_t off = 0; off < size; off += CHUNK) {
		size_t len = size - off < CHUNK ? size - off : CHUNK;
		if (wl_read_all(rd, ring_buf, len) < 0) {
			wl_fail("data file is short");
			break;
		}
		if (memcmp(ring_buf, stage + off, len) != 0) {
			wl_fail("data file differs from the memfd at chunk %zu", off / CHUNK);
			break;
		}
		h = hash2(h, chunk_hash(ring_buf, len));
	}
	close(rd);
	wl_check(h == running, "running hash differs from the data file's");
	check_log(log_path, stage, size, n_chunks);

	wl_printf("fileio: bytes=%zu chunks=%zu work=%lu\n", size, n_chunks, (unsigned long) work);
	wl_printf("data: %016lx\n", (unsigned long) running);
	wl_printf("state: %016lx\n", (unsigned long) st);
	return wl_finish();
}
