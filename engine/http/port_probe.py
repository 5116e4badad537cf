"""Whether this process could listen on ``host:port``, asked before the server starts.

Granian binds every worker's socket with ``SO_REUSEPORT``, so a second ``turnout serve``
on a port another server already listens on would start without complaint and the kernel
would split connections between the two. A plain socket (``SO_REUSEADDR`` only, so the
``TIME_WAIT`` leftovers of a server that just stopped are no conflict, but never
``SO_REUSEPORT``) cannot bind a port some socket is listening on: that bind is the check.
"""

from __future__ import annotations

import errno
import socket


def listen_problem(host: str, port: int) -> str | None:
    """None when ``host:port`` is free to listen on; otherwise one line saying why not."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host}: {exc.strerror}"
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return _why(exc, host, port)
    return None


def _why(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use (another server listens there); stop it or pick another port"
    if exc.errno == errno.EACCES:
        return f"not permitted to listen on port {port} on {host} (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: it is not an address of this machine"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
