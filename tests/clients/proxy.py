"""A TCP proxy that drops the connection once, mid-stream: the network failure a real client
meets, without touching the client's code.

Bytes from the client are counted across connections; the connection that crosses
``cut_after`` gets exactly the bytes up to that mark forwarded, then it is broken: the server
reads those bytes and an early end of the body, the client a dead connection. Every later
connection is forwarded untouched, so the client's stored upload URL (which names the proxy)
still works when it resumes.
"""

from __future__ import annotations

import socket
import threading

from tests.fixtures.moto_server import free_port


class CuttingProxy:
    def __init__(self, target_port: int, *, cut_after: int) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.port = free_port()
        self.forwarded = 0  # client -> server bytes before the cut, headers included
        self.cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)  # accept() polls _stop: closing a listener does not wake it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CuttingProxy:
        self._spawn(self._accept)
        return self

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _kill(sock)
        for thread in self._threads:
            thread.join(timeout=10)
        for sock in [self._listener, *sockets]:
            sock.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._to_server, client, upstream)
            self._spawn(self._to_client, upstream, client)

    def _to_server(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := client.recv(256 * 1024):
                with self._lock:
                    room = None if self.cut.is_set() else self.cut_after - self.forwarded
                    if room is not None:
                        self.forwarded += min(len(data), room)
                if room is not None and len(data) >= room:
                    upstream.sendall(data[:room])
                    self.cut.set()
                    _kill(client)
                    upstream.shutdown(socket.SHUT_WR)  # a FIN after the data: the server reads every forwarded byte
                    return
                upstream.sendall(data)
            upstream.shutdown(socket.SHUT_WR)
        except OSError:
            _kill(client)
            _kill(upstream)

    def _to_client(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(256 * 1024):
                client.sendall(data)
            client.shutdown(socket.SHUT_WR)
        except OSError:
            _kill(client)
            _kill(upstream)


def _kill(sock: socket.socket) -> None:
    """Break the connection and wake any thread blocked on it; close() comes later, in one place."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
