#!/usr/bin/env python3
"""socket-holder: keeps an agent's listening socket open across listener restarts.

While one holder serves DIR, the kernel keeps queueing connections to ADDRESS:PORT
whichever listener runs, or none: a listener change refuses nothing. Each listener
gets the socket from its parent the systemd way (fd 3, LISTEN_FDS=1, LISTEN_PID).

  socket-holder.py serve DIR ADDRESS PORT
      binds and listens on ADDRESS:PORT, never accepts; hands the socket to whoever
      connects to DIR/control.sock; writes "<pid> <startTicks>" to DIR/pid.
  socket-holder.py exec DIR ADDRESS PORT -- COMMAND [ARG...]
      starts a holder for DIR if none serves (detached, log in DIR/holder.log), takes
      its socket as fd 3 and execs COMMAND with LISTEN_FDS=1, LISTEN_PID=<its pid>.

Python 3.9+ (socket.send_fds), standard library only. DIR is private (mode 0700):
whoever may connect to control.sock may accept the agent's connections.
"""
import os
import signal
import socket
import subprocess
import sys
import time


def fail(message):
    sys.stderr.write(f"socket-holder: {message}\n")
    sys.exit(1)


def start_ticks(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(") ", 1)[1].split()[19]


def listening_socket(address, port):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as err:
        fail(f"cannot bind {address}:{port}: {err.strerror}")
    sock.listen(4096)
    return sock


def serve(directory, address, port):
    os.chdir(directory)  # relative socket path: a long DIR would not fit sun_path
    held = listening_socket(address, port)
    try:
        os.unlink("control.sock")
    except FileNotFoundError:
        pass
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.bind("control.sock")
    control.listen(16)
    with open("pid.tmp", "w") as out:
        out.write(f"{os.getpid()} {start_ticks(os.getpid())}\n")
    os.replace("pid.tmp", "pid")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        conn, _ = control.accept()
        try:
            socket.send_fds(conn, [b"1"], [held.fileno()])
        except OSError:
            pass
        conn.close()


def take(directory):
    """The held socket's fd, or None when no holder serves DIR."""
    here = os.getcwd()
    os.chdir(directory)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect("control.sock")
        _, fds, _, _ = socket.recv_fds(client, 1, 1)
        return fds[0] if fds else None
    except OSError:
        return None
    finally:
        client.close()
        os.chdir(here)


def exec_listener(directory, address, port, command):
    fd = take(directory)
    if fd is None:
        with open(os.path.join(directory, "holder.log"), "ab") as log:
            holder = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "serve", directory, address, str(port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 5
        while fd is None and holder.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
            fd = take(directory)
        if fd is None:
            fail(f"no holder serves {directory} (see {directory}/holder.log)")
    held = socket.socket(fileno=fd)
    bound = held.getsockname()[:2]
    if (socket.inet_pton(held.family, bound[0]), bound[1]) != (
            socket.inet_pton(held.family, address), port):
        fail(f"the holder of {directory} holds {bound[0]}:{bound[1]}, not {address}:{port}")
    held.detach()
    if fd != 3:
        os.dup2(fd, 3)
        os.close(fd)
    os.set_inheritable(3, True)
    os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
    try:
        os.execvp(command[0], command)
    except OSError as err:
        fail(f"cannot run {command[0]}: {err.strerror}")


def main(argv):
    if len(argv) >= 4 and argv[0] in ("serve", "exec") and argv[3].isdigit():
        directory, address, port = os.path.abspath(argv[1]), argv[2], int(argv[3])
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if argv[0] == "serve" and len(argv) == 4:
            return serve(directory, address, port)
        if argv[0] == "exec" and len(argv) >= 6 and argv[4] == "--":
            return exec_listener(directory, address, port, argv[5:])
    fail("usage: socket-holder.py serve DIR ADDRESS PORT | exec DIR ADDRESS PORT -- COMMAND...")


if __name__ == "__main__":
    main(sys.argv[1:])
