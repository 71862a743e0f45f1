"""A local HTTP CONNECT proxy for tests of sessions with a proxy (issue 17).

``with ConnectProxy() as proxy:`` listens on 127.0.0.1 on a free port, in a
thread of its own (an asyncio loop), so a fetcher in the test's loop and a
worker in another process can both use it. It records every CONNECT it is
asked (``tunnels``: the target as asked, ``ip:port``), the
``Proxy-Authorization`` header of each (``authorizations``), relays bytes
both ways, and counts the bytes each tunnel carried from the origin
(``carried()``: a tunnel opened and then not used carried none). With
``user``/``password`` it answers 407 to a request without those
credentials, as a real proxy does. ``mode`` makes it misbehave:
``"close"`` (closes without answering), ``"silent"`` (never answers),
``"502"`` (answers 502 Bad Gateway), ``"eager"`` (sends a byte past its 200
answer before the client spoke), ``"huge"`` (a header block of 8 KiB).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading


class ConnectProxy:
    def __init__(
        self, *, user: str | None = None, password: str | None = None, mode: str = "relay"
    ) -> None:
        self.user = user
        self.password = password
        self.mode = mode
        self.tunnels: list[str] = []
        self.authorizations: list[str | None] = []
        self._carried: list[int] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """``http://[user:password@]127.0.0.1:port`` (the proxy's own credentials by default)."""
        user = self.user if user is None else user
        password = self.password if password is None else password
        auth = f"{user}:{password}@" if user is not None else ""
        return f"http://{auth}{self.address}"

    def targets(self) -> list[str]:
        with self._lock:
            return list(self.tunnels)

    def carried(self) -> list[int]:
        """Bytes each tunnel (in ``tunnels``' order) carried from the origin so far."""
        with self._lock:
            return list(self._carried)

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        )
        self._server = started.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            fields = (line.partition(":") for line in lines[1:])
            headers = {k.strip().lower(): v.strip() for k, _, v in fields}
            authorization = headers.get("proxy-authorization")
            with self._lock:
                self.tunnels.append(target if method == "CONNECT" else f"{method} {target}")
                self.authorizations.append(authorization)
                self._carried.append(0)
                index = len(self._carried) - 1
            if self.mode == "close":
                return
            if self.mode == "silent":
                await reader.read()  # until the client gives up
                return
            if self.mode == "502":
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            if self.mode == "huge":
                writer.write(b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 8192 + b"\r\n\r\n")
                return
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            if self.user is not None and authorization != _basic(self.user, self.password):
                with self._lock:
                    self.refused += 1
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                )
                return
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
            answer = b"HTTP/1.1 200 Connection established\r\n\r\n"
            writer.write(answer + (b"X" if self.mode == "eager" else b""))
            await writer.drain()
            await asyncio.gather(
                _pipe(reader, up_writer), _pipe(up_reader, writer, self._counter(index))
            )
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _counter(self, index: int):
        def count(size: int) -> None:
            with self._lock:
                self._carried[index] += size

        return count


def _basic(user: str, password: str | None) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password or ''}".encode()).decode()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count=None) -> None:
    try:
        while data := await reader.read(64 * 1024):
            if count is not None:
                count(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
