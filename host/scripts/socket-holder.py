#!/usr/bin/env python3
"""socket-holder: keeps an agent's listening socket open across listener restarts.

  socket-holder.py serve DIR ADDRESS PORT

binds and listens on ADDRESS:PORT and never accepts: while it runs, the kernel keeps
queueing connections whichever listener runs, or none, so a listener change refuses
nothing. It starts the listeners itself, the systemd way: fd 3 is the socket,
LISTEN_FDS=1, LISTEN_PID=<the listener's pid>, in a session of their own, with the
holder's environment. A request is one line written to the FIFO DIR/spawn, fields
separated by tabs:

  PIDFILE <tab> LOGFILE <tab> CWD <tab> COMMAND [<tab> ARG...] <newline>

The holder writes the listener's pid to PIDFILE (or "0 <error>" if it could not
start it), its output goes to LOGFILE. "<pid> <startTicks>" of the holder is in
DIR/pid once it serves. DIR is private (0700): whoever may write DIR/spawn may run
commands as the holder's user. Python 3, standard library only.
"""
import os
import signal
import socket
import subprocess
import sys


def fail(message):
    sys.stderr.write(f"socket-holder: {message}\n")
    sys.exit(1)


def write_atomic(path, text):
    with open(f"{path}.tmp", "w") as out:
        out.write(text)
    os.replace(f"{path}.tmp", path)


def held_socket(address, port):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as err:
        fail(f"cannot bind {address}:{port}: {err.strerror}")
    sock.listen(4096)
    # fd 3, as the listeners get it; detached, or collecting the object would close it.
    fd = sock.detach()
    if fd != 3:
        os.dup2(fd, 3)
        os.close(fd)
    os.set_inheritable(3, True)


def listen_env():
    os.putenv("LISTEN_FDS", "1")
    os.putenv("LISTEN_PID", str(os.getpid()))


def spawn(request):
    fields = request.decode().split("\t")
    if len(fields) < 4:
        return
    pidfile, logfile, cwd, argv = fields[0], fields[1], fields[2], fields[3:]
    try:
        with open(logfile, "ab") as log:
            child = subprocess.Popen(
                argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(3,), start_new_session=True, preexec_fn=listen_env)
        write_atomic(pidfile, f"{child.pid}\n")
    except OSError as err:
        write_atomic(pidfile, f"0 cannot start {argv[0]}: {err}\n")


def serve(directory, address, port):
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chdir(directory)
    held_socket(address, port)
    try:
        os.unlink("spawn")
    except FileNotFoundError:
        pass
    os.mkfifo("spawn", 0o600)
    # Read and write end both held: the FIFO never reports end of file.
    fifo = os.open("spawn", os.O_RDWR)
    # Listeners are reaped by the kernel: the holder never waits for them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(f"/proc/{os.getpid()}/stat") as stat:
        ticks = stat.read().rsplit(") ", 1)[1].split()[19]
    write_atomic("pid", f"{os.getpid()} {ticks}\n")
    pending = b""
    while True:
        pending += os.read(fifo, 65536)
        while b"\n" in pending:
            request, pending = pending.split(b"\n", 1)
            spawn(request)


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) != 4 or args[0] != "serve" or not args[3].isdigit():
        fail("usage: socket-holder.py serve DIR ADDRESS PORT")
    serve(os.path.abspath(args[1]), args[2], int(args[3]))
