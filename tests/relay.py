"""A TCP relay on loopback between the code under test and the database server, which a test or the
chaos benchmark cuts (connecting is refused), makes hang (connections accepted, never answered) and
restores on the same port: real outages, without stopping the shared server."""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.live import free_port


class Relay:
    """A TCP relay to the database server that a test cuts (listener and every connection closed, so
    connecting is refused) and restores on the same port: a real outage, as when the server stops."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.listener: socket.socket | None = None

    def start(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        assert self.listener is not None
        with self.lock:
            for sock in (self.listener, *self.sockets):
                _close(sock)
            self.sockets.clear()
        self.listener = None

    def hang(self) -> None:
        """A server that accepts connections and never answers (a frozen host): the open connections go,
        new ones are accepted and held, silent."""
        self.cut()
        self.hanging = True
        self.start()

    def resume(self) -> None:
        self.cut()
        self.hanging = False
        self.start()

    hanging = False

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.hanging:
                with self.lock:
                    self.sockets.add(client)
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv()
    sock.close()
