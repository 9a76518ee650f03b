# SPDX-License-Identifier: GPL-2.0-or-later
"""unixconn.py: a parent and child talking over a unix socket, for tree tests.

    python3 unixconn.py OUT READY SOCKET|pair [ROUNDS=9000]

The parent listens on SOCKET (multiprocessing.connection, AF_UNIX); a forked
child connects and, for each number the parent sends, walks a SHA-256 chain
and sends the digest back, while the parent keeps two requests in flight so
bytes sit queued both ways. At the end a second child connects to the same
listener and sends one word: the listener must still take connections. With
"pair" instead of a path, parent and child talk over a socket pair made
before the fork (one end each), and there is no listener. The result
depends only on the arguments. Writes READY (its pid) once connected; the
last line of OUT is PASS or FAIL.
"""
import hashlib
import os
import sys
from multiprocessing.connection import Client, Listener, Pipe

from ready import announce


def serve(conn):
    h = b"unixconn"
    while True:
        n = conn.recv()
        if n is None:
            os._exit(0)
        for _ in range(2000):
            h = hashlib.sha256(h + b"%d" % n).digest()
        conn.send(h.hex())


def child(fn, *args):
    pid = os.fork()
    if pid == 0:
        try:
            fn(*args)
        finally:
            os._exit(1)
    return pid


def late(addr):
    Client(addr, family="AF_UNIX").send("late")
    os._exit(0)


def main():
    out, ready, addr = sys.argv[1], sys.argv[2], sys.argv[3]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 9000
    if addr == "pair":
        listener = None
        conn, theirs = Pipe()  # duplex: a socket pair
        worker = child(serve, theirs)
        theirs.close()
    else:
        if os.path.exists(addr):
            os.unlink(addr)
        listener = Listener(addr, family="AF_UNIX")
        worker = child(lambda: serve(Client(addr, family="AF_UNIX")))
        conn = listener.accept()
    announce(ready, os.getpid())
    lines = []
    conn.send(0)
    for i in range(1, rounds):
        conn.send(i)
        lines.append(conn.recv())
    lines.append(conn.recv())
    conn.send(None)
    ok = os.waitpid(worker, 0)[1] == 0
    if listener:
        second = child(late, addr)
        lines.append(listener.accept().recv())
        ok = ok and os.waitpid(second, 0)[1] == 0
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
        f.write("PASS\n" if ok and len(lines) == rounds + bool(listener) else "FAIL\n")


main()
