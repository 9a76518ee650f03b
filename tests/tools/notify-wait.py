#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""notify-wait.py: start a daemon the way a Type=notify unit does.

    notify-wait.py [OPTIONS] -- CMD [ARGS...]

Makes a NOTIFY_SOCKET datagram socket, runs CMD with NOTIFY_SOCKET set
(stdin /dev/null; stdout and stderr to --log, appended), waits until some
process sends READY=1 on it (NotifyAccess=all: any sender counts), prints
CMD's pid on stdout and exits 0, leaving CMD running.

CMD is not our child but a supervisor's: a process of ours that stays
behind, keeps logging what is sent on NOTIFY_SOCKET (--notify-log: one line
per datagram, "pid=SENDER TEXT"), and, when CMD ends, writes how it ended
to --status-file ("exited N" or "killed SIGNAL"), then exits itself. Under
a subreaper the supervisor is adopted by it; nothing of ours holds the
caller's stdout, so `pid=$(notify-wait.py ...)` returns at READY=1.

With --listen PATH, it also binds a listening stream socket at PATH (mode
--listen-mode, default 0666) and passes it as fd 3 with LISTEN_FDS=1,
LISTEN_PID=<CMD's pid>, LISTEN_FDNAMES=<basename of PATH>, as socket
activation does.

Exit status: 0 READY=1 came; 1 CMD ended before it (how is said on
stderr) or could not be started; 2 usage; 4 no READY=1 within --timeout
(CMD is then killed with SIGKILL and reaped).
"""

import argparse
import os
import select
import signal
import socket
import struct
import sys
import time

EXIT_READY, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 4


def say(msg):
    sys.stderr.write("notify-wait: %s\n" % msg)
    sys.stderr.flush()


def describe(status):
    if os.WIFEXITED(status):
        return "exited %d" % os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return "killed %d" % os.WTERMSIG(status)
    return "status %d" % status


def notify_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        s.bind(path)
        return s, path
    # An abstract name: nothing to clean up, nothing another test can collide with.
    name = "\0ckptd-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
    s.bind(name)
    return s, "@" + name[1:]


def listen_socket(path, mode):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    s.bind(path)
    os.chmod(path, mode)
    s.listen(socket.SOMAXCONN)
    return s


def read_datagrams(sock):
    """(sender pid or 0, text) for every datagram waiting."""
    out = []
    while True:
        try:
            data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12), socket.MSG_DONTWAIT)
        except BlockingIOError:
            return out
        pid = 0
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= 12:
                pid = struct.unpack("iII", payload[:12])[0]
        out.append((pid, data.decode("utf-8", "replace")))


def spawn(args, notify_name, listener):
    fd_null = os.open("/dev/null", os.O_RDONLY)
    log_fd = None
    if args.log:
        log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    pid = os.fork()
    if pid:
        os.close(fd_null)
        if log_fd is not None:
            os.close(log_fd)
        return pid
    # The daemon: nothing of ours but stdio and the listening socket.
    try:
        env = dict(os.environ)
        for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            env.pop(k, None)
        env["NOTIFY_SOCKET"] = notify_name
        os.dup2(fd_null, 0)
        if log_fd is not None:
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
        else:
            os.dup2(2, 1)
        if listener is not None:
            os.dup2(listener.fileno(), 3)
            os.set_inheritable(3, True)  # dup2 onto itself keeps FD_CLOEXEC
            env["LISTEN_FDS"] = "1"
            env["LISTEN_PID"] = str(os.getpid())
            env["LISTEN_FDNAMES"] = os.path.basename(args.listen)
            os.closerange(4, 65536)
        else:
            os.closerange(3, 65536)
        # As systemd starts a service: its own session, default signal dispositions.
        os.setsid()
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP,
                    signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.execvpe(args.cmd[0], args.cmd, env)
    except OSError as e:
        os.write(2, ("notify-wait: cannot run %s: %s\n" % (args.cmd[0], e.strerror)).encode())
    os._exit(127)


def supervise(args, report_fd):
    """The supervisor: starts the daemon, reports READY (or not), then waits for it."""
    note = open(args.notify_log, "a", buffering=1) if args.notify_log else None
    sock, name = notify_socket(args.notify_socket)
    listener = listen_socket(args.listen, int(args.listen_mode, 8)) if args.listen else None
    pid = spawn(args, name, listener)
    if listener is not None:
        listener.close()  # the daemon holds it now
    pidfd = os.pidfd_open(pid)
    deadline = time.monotonic() + args.timeout
    ready = False
    status = None

    def report(text):
        if report_fd is not None:
            os.write(report_fd, text.encode())

    while True:
        wait = 1.0 if ready else max(0.0, deadline - time.monotonic())
        r, _, _ = select.select([sock, pidfd], [], [], wait)
        for sender, text in read_datagrams(sock):
            if note:
                note.write("pid=%d %s\n" % (sender, text.replace("\n", " ").strip()))
            if not ready and "READY=1" in text.split("\n"):
                ready = True
                report("ready %d %d\n" % (pid, sender))
                if report_fd is not None:
                    os.close(report_fd)
                    report_fd = None
        if pidfd in r:
            _, status = os.waitpid(pid, 0)
            break
        if not ready and time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            report("timeout %d\n" % pid)
            break
    if note:
        for sender, text in read_datagrams(sock):
            note.write("pid=%d %s\n" % (sender, text.replace("\n", " ").strip()))
    if not ready:
        report("failed %d %s\n" % (pid, describe(status)))
    if args.status_file:
        with open(args.status_file + ".tmp", "w") as f:
            f.write(describe(status) + "\n")
        os.rename(args.status_file + ".tmp", args.status_file)


def main():
    p = argparse.ArgumentParser(
        prog="notify-wait.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for READY=1")
    p.add_argument("--log", help="CMD's stdout and stderr (appended)")
    p.add_argument("--status-file", help="written when CMD ends: 'exited N' or 'killed SIG'")
    p.add_argument("--notify-log", help="every notification, one line each")
    p.add_argument("--notify-socket", help="a path for NOTIFY_SOCKET (default: an abstract name)")
    p.add_argument("--listen", help="pass a listening socket bound here (socket activation)")
    p.add_argument("--listen-mode", default="0666")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    try:
        args = p.parse_args()
    except SystemExit as e:
        return EXIT_USAGE if e.code else 0
    if args.cmd and args.cmd[0] == "--":
        args.cmd = args.cmd[1:]
    if not args.cmd:
        say("no command given")
        return EXIT_USAGE
    if args.status_file:
        try:
            os.unlink(args.status_file)
        except FileNotFoundError:
            pass

    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    sup = os.fork()
    if sup == 0:
        os.close(rfd)
        # Hold nothing of the caller's: $(...) returns once we are the only holder.
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        if args.log:
            log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 2)
            os.close(log)
        os.close(null)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        code = 0
        try:
            supervise(args, wfd)
        except Exception as e:  # said in the log; the caller sees "failed"
            say("supervisor: %r" % e)
            try:
                os.write(wfd, ("failed 0 supervisor error: %r\n" % e).encode())
            except OSError:
                pass
            code = 1
        os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd) as r:
        line = r.readline().split()
    if not line:
        say("the supervisor died before %s was ready" % args.cmd[0])
        return EXIT_FAILED
    if line[0] == "ready":
        print(line[1], flush=True)
        return EXIT_READY
    if line[0] == "timeout":
        say("%s (pid %s) sent no READY=1 within %.0f s; killed it" % (args.cmd[0], line[1], args.timeout))
        return EXIT_TIMEOUT
    say("%s (pid %s) %s before READY=1" % (args.cmd[0], line[1], " ".join(line[2:])))
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
