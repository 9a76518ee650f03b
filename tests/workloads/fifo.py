# SPDX-License-Identifier: GPL-2.0-or-later
"""fifo.py: a parent reading a named FIFO that its child keeps opening by name, for tree tests.

    python3 fifo.py OUT READY FIFO [ROUNDS=1200]

The parent makes FIFO and holds it open read-write (so it never sees end of
file) for the whole run, reading slowly; the child, for each round, opens
FIFO by its name, writes a few lines and closes it, faster than the parent
reads, so bytes wait in the FIFO. After a restore the child's next open()
by name must reach the pipe the parent's fd holds: were the FIFO restored
as a pipe with no name, that open would wait for a reader forever. Writes
READY (its pid and the child's); OUT gets a digest of what was read, then
PASS or FAIL.
"""
import hashlib
import os
import sys
import time

from ready import announce

LINES = 4


def child(path, rounds):
    for r in range(rounds):
        with open(path, "w") as f:
            for k in range(LINES):
                f.write("round %d line %d %s\n" % (r, k, hashlib.sha256(b"%d.%d" % (r, k)).hexdigest()))
        time.sleep(0.005)
    os._exit(0)


def main():
    out, ready, path = sys.argv[1], sys.argv[2], sys.argv[3]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 1200
    if os.path.exists(path):
        os.unlink(path)
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR)
    pid = os.fork()
    if pid == 0:
        os.close(fd)
        child(path, rounds)
    announce(ready, os.getpid(), pid)
    h = hashlib.sha256()
    reader = os.fdopen(fd, "r")
    for n in range(rounds * LINES):
        line = reader.readline()
        h.update(line.encode())
        if n % 8 == 0:
            time.sleep(0.01)
    ok = os.waitpid(pid, 0)[1] == 0
    with open(out, "w") as f:
        f.write("lines %d sha256 %s\n" % (rounds * LINES, h.hexdigest()))
        f.write("PASS\n" if ok else "FAIL\n")


main()
