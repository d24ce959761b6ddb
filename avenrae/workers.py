"""Several server processes on one port, each accepting on a listening socket of its own.

`uvicorn --workers N` hands one socket to all its processes, and asyncio accepts every
connection waiting on it in one go: the first process to wake takes a whole burst of
keep-alive clients and keeps them, while the others idle (measured with 16 API clients on
2 workers: one at 100% CPU, the other at 0%). With a socket per process, bound to the same
port with SO_REUSEPORT, the kernel spreads new connections across the processes by their
addresses. `supervise` runs one process per socket, starts a new one on the same socket when
one dies (connections wait in that socket's queue meanwhile), and stops them all on SIGTERM
or Ctrl-C.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable

# A worker that exits this soon after its start is failing to start (a bad setting, an
# import error): stop rather than start it again forever.
FAILED_START_SECONDS = 10.0
STOP_GRACE_SECONDS = 30.0


def listening_sockets(address: str, port: int, count: int) -> list[socket.socket]:
    """`count` TCP sockets bound to address:port (port 0: a free one, the same for all), with
    Nagle's algorithm off (accepted connections inherit it) and, for more than one, SO_REUSEPORT.
    Raises OSError when the port is taken, including by another group of reuse-port sockets:
    a plain bind is tried first, which any holder of the port refuses."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    if count > 1:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((address, port))
            port = probe.getsockname()[1]
    made: list[socket.socket] = []
    try:
        for _ in range(count):
            listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            made.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            listener.bind((address, port))
            port = listener.getsockname()[1]
            listener.set_inheritable(True)
    except OSError:
        for listener in made:
            listener.close()
        raise
    return made


def supervise(command: list[str], listeners: list[socket.socket], *, log: Callable[[str], None]) -> int:
    """Run `command --fd <socket>` once per listener until SIGTERM or SIGINT; returns the exit code."""
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for listener in listeners:  # connections queue from now on, while the workers import
        listener.listen(2048)

    def start(listener: socket.socket) -> tuple[subprocess.Popen, float]:
        fd = listener.fileno()
        # Our own interpreter and module with fixed arguments and no shell (hence S603 is silenced).
        return subprocess.Popen([*command, "--fd", str(fd)], pass_fds=(fd,)), time.monotonic()  # noqa: S603

    running = [start(listener) for listener in listeners]
    code = 0
    while not stopping:
        time.sleep(0.2)
        for index, (worker, started) in enumerate(running):
            if stopping or worker.poll() is None:
                continue
            if time.monotonic() - started < FAILED_START_SECONDS:
                log(f"A worker exited as it started (exit code {worker.returncode}); stopping the others.")
                code, stopping = worker.returncode or 1, True
            else:
                log(f"Worker {worker.pid} exited (exit code {worker.returncode}); starting another.")
                running[index] = start(listeners[index])
    for worker, _ in running:
        if worker.poll() is None:
            worker.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for worker, _ in running:
        try:
            worker.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    return code
