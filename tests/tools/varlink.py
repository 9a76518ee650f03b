#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""varlink.py: a raw varlink client for tests, well-behaved or not.

    varlink.py [OPTIONS] SOCKET [MESSAGE...]

Connects to the Unix socket SOCKET and sends each MESSAGE (JSON text of a
call; "-" reads one from stdin) followed by a NUL byte, one after the other
on the same connection, reading every reply to a message (while it says
"continues": true) before sending the next. Each reply is printed as
compact JSON on its own line on stdout; what happened otherwise (the
connection closed, a timeout) is said on stderr, prefixed "varlink.py:".

Instead of a MESSAGE:
  --call METHOD [--params JSON] [--more]   build the call
  --raw TEXT        send TEXT as it is (Python escapes such as \\x00 and
                    \\xff are decoded to bytes) and no NUL of our own
  --garbage N       N random bytes (no NUL among them; --seed), then a NUL
  --oversize N      a well-formed io.ckptd.Status call padded to exactly N
                    bytes with an unknown parameter, then a NUL
  --silent          send nothing; wait --hold seconds for the peer to close

Ways to misbehave with a MESSAGE:
  --no-nul          leave out the NUL after the last message (then wait)
  --half            send the first half of the last message and close
  --close-after-send  send everything, then close without reading a reply

Many at once:
  --concurrent N    N connections, all connected first, then all sending at
                    the same moment; each sends its message(s) --repeat K
                    times (waiting for each reply). Prints one summary line
                    of JSON on stdout instead of the replies:
                    {"connections","calls","replies","errors":{NAME: n},
                     "closed","timeouts","connect_failed","partial",
                     "refused","served_connections","seconds"}
                    "closed" counts calls cut off by the peer closing,
                    "partial" connections answered some calls, then cut
                    off, "refused" connections whose first answer was
                    io.ckptd.LimitReached (they send no more), and
                    "served_connections" those that got other answers.
  --ready-file F    (with --silent) written once every connection is up
  --witness JSON    first open a second connection; after the main exchange,
                    send JSON on it: the peer must still answer there (its
                    reply is printed prefixed "witness: ")

Exit status (single connection):
  0  every message got a reply, none of them an error
  1  a message got an error reply (the last line printed is it)
  2  usage
  3  the peer closed the connection before a complete reply (or, with
     --silent, before --hold ran out)
  4  no reply within --timeout (with --silent: --hold ran out, still open)
  5  cannot connect
  6  a malformed reply (not JSON, not an object, no NUL within 16 MiB)
  7  the --witness connection got no reply
  0  with --half / --close-after-send: sent and closed
With --concurrent: 0 if every call got a reply or an error reply, 3 if
some were cut off by the peer, 4 if some timed out, 5 if only connecting
failed. Messages about the peer closing carry the elapsed seconds.

Only the Python standard library is used.
"""

import argparse
import codecs
import json
import os
import random
import select
import socket
import sys
import threading
import time

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CLOSED, EXIT_TIMEOUT = 0, 1, 2, 3, 4
EXIT_CONNECT, EXIT_MALFORMED, EXIT_WITNESS = 5, 6, 7
REPLY_MAX = 16 << 20
T0 = time.monotonic()


def say(msg):
    sys.stderr.write("varlink.py: %s (after %.2f s)\n" % (msg, time.monotonic() - T0))
    sys.stderr.flush()


class Closed(Exception):
    pass


class Timeout(Exception):
    pass


class Malformed(Exception):
    pass


class Conn:
    def __init__(self, path, timeout):
        self.path = path
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.early = None  # what the peer said before it closed on our send
        # A full listen backlog is EAGAIN for a socket with a timeout: retry.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            # It may have answered before it closed (a refusal): keep that.
            try:
                self.early = self.recv_message(timeout=0.2)
            except (Closed, Timeout, Malformed):
                raise Closed("while sending: %s" % e.strerror)
        except socket.timeout:
            raise Timeout("sending blocked for %.1f s" % self.timeout)

    def recv_message(self, timeout=None):
        """The next NUL-terminated message, parsed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no reply within %.1f s" % (self.timeout if timeout is None else timeout))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                raise Closed("connection reset by peer")
            if not chunk:
                if self.buf:
                    raise Closed("peer closed after %d bytes of an unfinished reply" % len(self.buf))
                raise Closed("connection closed by peer")
            self.buf += chunk
            if len(self.buf) > REPLY_MAX:
                raise Malformed("no NUL within %d bytes" % REPLY_MAX)
        msg, self.buf = self.buf.split(b"\0", 1)
        try:
            obj = json.loads(msg.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise Malformed("reply is not JSON (%s): %r" % (e, msg[:200]))
        if not isinstance(obj, dict):
            raise Malformed("reply is not a JSON object: %r" % msg[:200])
        return obj

    def replies(self, timeout=None):
        """Every reply to one call: until one without "continues" or an error."""
        while True:
            if self.early is not None:
                r, self.early = self.early, None
            else:
                r = self.recv_message(timeout)
            yield r
            if "error" in r or not r.get("continues"):
                return

    def wait_closed(self, hold):
        """True if the peer closes within hold seconds (what it sent is ignored)."""
        deadline = time.monotonic() + hold
        self.sock.setblocking(False)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.sock], [], [], min(left, 1.0))
            if not r:
                continue
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return True
            if not chunk:
                return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def dump(obj):
    return json.dumps(obj, separators=(",", ":"))


def oversize_message(n):
    head = b'{"method":"io.ckptd.Status","parameters":{"padding":"'
    tail = b'"}}'
    if n < len(head) + len(tail):
        raise SystemExit("varlink.py: --oversize must be at least %d" % (len(head) + len(tail)))
    return head + b"x" * (n - len(head) - len(tail)) + tail


def build_messages(args):
    """The byte strings to send, each with its NUL unless --raw."""
    if args.call:
        params = json.loads(args.params) if args.params is not None else None
        call = {"method": args.call}
        if params is not None:
            call["parameters"] = params
        if args.more:
            call["more"] = True
        return [dump(call).encode() + b"\0"]
    if args.raw is not None:
        return [codecs.escape_decode(args.raw.encode())[0]]
    if args.garbage is not None:
        rng = random.Random(args.seed)
        data = bytes(rng.choice(range(1, 256)) for _ in range(args.garbage))
        return [data + b"\0"]
    if args.oversize is not None:
        return [oversize_message(args.oversize) + b"\0"]
    out = []
    for m in args.message:
        text = sys.stdin.read() if m == "-" else m
        out.append(text.encode() + b"\0")
    return out


def single(args, messages):
    witness = None
    try:
        if args.witness:
            witness = Conn(args.socket, args.timeout)
        c = Conn(args.socket, args.timeout)
    except OSError as e:
        say("cannot connect to %s: %s" % (args.socket, e.strerror or e))
        return EXIT_CONNECT

    status = run_single(args, c, messages)
    c.close()
    if witness is not None:
        try:
            witness.send(args.witness.encode() + b"\0")
            for r in witness.replies():
                print("witness: " + dump(r), flush=True)
        except (Closed, Timeout, Malformed) as e:
            say("witness: %s" % e)
            return EXIT_WITNESS
        finally:
            witness.close()
    return status


def run_single(args, c, messages):
    if args.silent:
        if args.ready_file:
            write_ready(args.ready_file)
        if c.wait_closed(args.hold):
            say("connection closed by peer")
            return EXIT_CLOSED
        say("still connected after %.1f s" % args.hold)
        return EXIT_TIMEOUT

    got_error = False
    for i, m in enumerate(messages):
        last = i == len(messages) - 1
        try:
            if last and args.half:
                c.send(m[: max(1, len(m) // 2)])
                say("sent %d of %d bytes, closing" % (max(1, len(m) // 2), len(m)))
                return EXIT_OK
            if last and args.no_nul and m.endswith(b"\0"):
                m = m[:-1]
            c.send(m)
            if last and args.close_after_send:
                say("sent %d bytes, closing without reading" % len(m))
                return EXIT_OK
            for r in c.replies():
                print(dump(r), flush=True)
                if "error" in r:
                    got_error = True
        except Closed as e:
            say(str(e))
            return EXIT_CLOSED
        except Timeout as e:
            say(str(e))
            return EXIT_TIMEOUT
        except Malformed as e:
            say(str(e))
            return EXIT_MALFORMED
    return EXIT_ERROR if got_error else EXIT_OK


def write_ready(path):
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(path + ".tmp", path)


def concurrent(args, messages):
    n = args.concurrent
    lock = threading.Lock()
    stats = {
        "connections": n,
        "calls": 0,
        "replies": 0,
        "errors": {},
        "closed": 0,
        "timeouts": 0,
        "connect_failed": 0,
        "partial": 0,
        "refused": 0,
        "served_connections": 0,
    }
    conns = [None] * n
    barrier = threading.Barrier(n + 1)

    def connect_all(i):
        try:
            conns[i] = Conn(args.socket, args.timeout)
        except OSError:
            with lock:
                stats["connect_failed"] += 1

    # Connecting 1000 sockets from 1000 threads is slower than from a few.
    pool = [threading.Thread(target=lambda k=k: [connect_all(i) for i in range(k, n, 16)]) for k in range(16)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()

    def worker(i):
        c = conns[i]
        answered = 0
        cut = False
        barrier.wait()
        if c is None:
            return
        if args.silent:
            if c.wait_closed(args.hold):
                with lock:
                    stats["closed"] += 1
            else:
                with lock:
                    stats["timeouts"] += 1
            return
        refused = False
        for _ in range(args.repeat):
            for m in messages:
                with lock:
                    stats["calls"] += 1
                try:
                    c.send(m)
                    for r in c.replies():
                        with lock:
                            if "error" in r:
                                e = r["error"]
                                stats["errors"][e] = stats["errors"].get(e, 0) + 1
                                if e == "io.ckptd.LimitReached" and not answered:
                                    stats["refused"] += 1
                                    refused = True
                            else:
                                stats["replies"] += 1
                    if refused:
                        break
                    answered += 1
                except Closed:
                    with lock:
                        stats["closed"] += 1
                    cut = True
                except (Timeout, Malformed):
                    with lock:
                        stats["timeouts"] += 1
                    cut = True
                if cut:
                    break
            if cut or refused:
                break
        with lock:
            if answered:
                stats["served_connections"] += 1
            if answered and cut:
                stats["partial"] += 1
        c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    if args.silent and args.ready_file:
        write_ready(args.ready_file)
    t_start = time.monotonic()
    barrier.wait()
    for t in threads:
        t.join()
    stats["seconds"] = round(time.monotonic() - t_start, 3)
    print(dump(stats), flush=True)
    if args.silent:
        return EXIT_CLOSED if stats["closed"] else EXIT_TIMEOUT
    if stats["connect_failed"] == n:
        return EXIT_CONNECT
    if stats["closed"]:
        return EXIT_CLOSED
    if stats["timeouts"]:
        return EXIT_TIMEOUT
    return EXIT_OK


def main():
    p = argparse.ArgumentParser(
        prog="varlink.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("socket")
    p.add_argument("message", nargs="*")
    p.add_argument("--call")
    p.add_argument("--params")
    p.add_argument("--more", action="store_true")
    p.add_argument("--raw")
    p.add_argument("--garbage", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--oversize", type=int)
    p.add_argument("--silent", action="store_true")
    p.add_argument("--hold", type=float, default=5.0)
    p.add_argument("--no-nul", action="store_true")
    p.add_argument("--half", action="store_true")
    p.add_argument("--close-after-send", action="store_true")
    p.add_argument("--concurrent", type=int)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--ready-file")
    p.add_argument("--witness")
    p.add_argument("--timeout", type=float, default=10.0)
    try:
        args = p.parse_intermixed_args()
    except SystemExit as e:
        return EXIT_USAGE if e.code else 0

    sources = [args.call is not None, args.raw is not None, args.garbage is not None,
               args.oversize is not None, args.silent, bool(args.message)]
    if sum(sources) != 1:
        p.print_usage(sys.stderr)
        say("give exactly one of MESSAGE, --call, --raw, --garbage, --oversize, --silent")
        return EXIT_USAGE
    if args.params is not None and args.call is None:
        say("--params needs --call")
        return EXIT_USAGE
    if sum([args.no_nul, args.half, args.close_after_send]) > 1:
        say("--no-nul, --half and --close-after-send exclude each other")
        return EXIT_USAGE
    if args.concurrent is not None and (args.concurrent < 1 or args.witness or args.half
                                        or args.no_nul or args.close_after_send):
        say("--concurrent N (N >= 1) goes with neither --witness, --half, --no-nul nor --close-after-send")
        return EXIT_USAGE
    try:
        messages = [] if args.silent else build_messages(args)
    except ValueError as e:
        say("bad JSON in --params: %s" % e)
        return EXIT_USAGE
    if args.concurrent:
        return concurrent(args, messages)
    return single(args, messages)


if __name__ == "__main__":
    sys.exit(main())
