# SPDX-License-Identifier: GPL-2.0-or-later
"""pool.py: a python3 driver with multiprocessing workers, for tree tests.

    python3 pool.py OUT READY [TASKS=90] [ITERATIONS=500000]

A multiprocessing.Pool of 3 workers (the fork start method: the workers are
forked children of the driver, talking to it through pipes and locking with
semaphores in shared memory) walks a SHA-256 chain per task; the driver
collects the results in task order and writes them. The result depends only
on the arguments. Writes READY (its pid and the workers') once the pool is
up; the last line of OUT is PASS or FAIL.
"""
import hashlib
import multiprocessing
import os
import sys

from ready import announce

WORKERS = 3


def chain(args):
    task, iterations = args
    h = hashlib.sha256(b"pool task %d" % task).digest()
    for _ in range(iterations):
        h = hashlib.sha256(h).digest()
    return task, h.hex()


def main():
    out, ready = sys.argv[1], sys.argv[2]
    tasks = int(sys.argv[3]) if len(sys.argv) > 3 else 90
    iterations = int(sys.argv[4]) if len(sys.argv) > 4 else 500000
    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(WORKERS)
    workers = [p.pid for p in multiprocessing.active_children()]

    announce(ready, os.getpid(), *sorted(workers))

    lines, ok = [], len(workers) == WORKERS
    total = hashlib.sha256()
    work = [(t, iterations) for t in range(tasks)]
    for i, (task, digest) in enumerate(pool.imap(chain, work, chunksize=1)):
        ok = ok and task == i
        total.update(digest.encode())
        lines.append("task %d: %s" % (task, digest))
    pool.close()
    pool.join()

    lines.append("tasks %d total %s" % (tasks, total.hexdigest()))
    lines.append("PASS" if ok else "FAIL a result came out of order, or the pool was not whole")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
