"""``python -m benchmarks.s3_connections [--requests N] [--puts N]``: does the S3
client reuse its connections to the project's versitygw?

Starts versitygw exactly as the suite does (``TestStack.start_s3``: infra/'s
flags), then makes N requests of each kind the worker and the viewer make with
the project's ``S3Store`` (one client, as in a worker process) and counts the
TCP connections the client opened for them: every socket urllib3 connects
(``HTTPConnection._new_conn``), cross-checked with the distinct client ports
``ss -tan`` shows to and from the server's port. For each kind it notes what
the client sent (``Expect``, ``Connection``) and what the server answered
(``Connection``), then times ``--puts`` small PUTs (wall time, the client's CPU
and the server's). Prints a table and, with ``--json``, the figures.

Not part of ``make bench``: a probe for docs/performance.md and issue 21.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BODY = b"x" * 4096
SHA = hashlib.sha256(BODY).hexdigest()


class ConnectionCounter:
    """Counts the sockets urllib3 connects in this process while installed."""

    def __init__(self) -> None:
        self.opened = 0
        self._original: Any = None

    def __enter__(self) -> ConnectionCounter:
        import urllib3.connection

        original = urllib3.connection.HTTPConnection._new_conn
        self._original = original

        def counting(conn):
            self.opened += 1
            return original(conn)

        setattr(urllib3.connection.HTTPConnection, "_new_conn", counting)  # noqa: B010
        return self

    def __exit__(self, *exc) -> None:
        import urllib3.connection

        setattr(urllib3.connection.HTTPConnection, "_new_conn", self._original)  # noqa: B010


def client_ports(server_port: int) -> set[int]:
    """The client-side ports of every TCP connection ``ss`` lists with the server's
    port at one end (TIME-WAIT included: a closed connection stays listed ~60 s)."""
    out = subprocess.run(
        ["ss", "-tanH", f"( sport = :{server_port} or dport = :{server_port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    ports = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] == "LISTEN":
            continue
        local, peer = fields[3].rsplit(":", 1)[1], fields[4].rsplit(":", 1)[1]
        if local == str(server_port) and peer == str(server_port):
            continue
        if local == str(server_port):
            ports.add(int(peer))
        elif peer == str(server_port):
            ports.add(int(local))
    return ports


class Headers:
    """What the client sent and the server answered, per operation."""

    def __init__(self, client) -> None:
        self.sent: collections.Counter = collections.Counter()
        self.answered: collections.Counter = collections.Counter()
        client.meta.events.register("before-send.s3", self._before_send)
        client.meta.events.register("after-call.s3", self._after_call)

    def _before_send(self, request, **_kw) -> None:
        def text(name):
            value = request.headers.get(name)
            return value.decode() if isinstance(value, bytes) else value

        self.sent[(text("Expect"), text("Connection"))] += 1

    def _after_call(self, http_response, **_kw) -> None:
        self.answered[http_response.headers.get("Connection")] += 1

    def take(self) -> dict:
        found = {
            "client_sent": {
                f"Expect={e or '-'} Connection={c or '-'}": n for (e, c), n in self.sent.items()
            },
            "server_answered": {f"Connection={c or '-'}": n for c, n in self.answered.items()},
        }
        self.sent.clear()
        self.answered.clear()
        return found


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(requests: int = 100, puts: int = 500) -> dict:
    from infra.processes import free_port
    from tests.support.stack import TestStack, store_of

    work = Path(tempfile.mkdtemp(prefix="warcflow-s3conn-"))
    stack = TestStack(work / "home", free_port(), free_port())
    s3 = stack.start_s3()
    try:
        env = stack.env(WARCFLOW_S3_BUCKET="probe-bucket")
        store = store_of(env, "admin")
        store.ensure_bucket()
        headers = Headers(store.client)
        n = requests

        def put_new(i):
            store.put_new(f"new/{i}", io.BytesIO(BODY), size=len(BODY), sha256=SHA,
                          content_type="text/plain")  # fmt: skip

        def put_exists(i):  # 412: the server answers before the body is sent
            store.put_new(f"new/{i}", io.BytesIO(BODY), size=len(BODY), sha256=SHA,
                          content_type="text/plain")  # fmt: skip

        def open_unread(i):  # a stream closed before its end (a range read given up)
            store.open(f"new/{i}").close()

        kinds: list[tuple[str, Callable[[int], object]]] = [
            ("PUT (put_new)", put_new),
            ("HEAD (head)", lambda i: store.head(f"new/{i}")),
            ("GET (get_bytes)", lambda i: store.get_bytes(f"new/{i}")),
            ("GET range (open, read)", lambda i: store.open(f"new/{i}", (0, 99)).read()),
            ("HEAD 404", lambda i: store.head(f"missing/{i}")),
            ("PUT 412 (put_new, exists)", put_exists),
            ("PUT (put_state)", lambda i: store.put_state(f"state/{i}", BODY)),
            ("GET closed unread (open)", open_unread),
        ]
        rows = []
        headers.take()
        for name, call in kinds:
            before = client_ports(s3.port)
            with ConnectionCounter() as counter:
                for i in range(n):
                    call(i)
            seen = client_ports(s3.port) - before
            rows.append(
                {
                    "kind": name,
                    "requests": n,
                    "connections_opened": counter.opened,
                    "client_ports_seen_by_ss": len(seen),
                    **headers.take(),
                }
            )
        server = s3.process.pid()
        assert server is not None
        server_cpu, cpu, wall = cpu_of(server), time.process_time(), time.perf_counter()
        with ConnectionCounter() as counter:
            for i in range(puts):
                store.put_new(f"timed/{i}", io.BytesIO(BODY), size=len(BODY), sha256=SHA,
                              content_type="text/plain")  # fmt: skip
        timed = {
            "puts": puts,
            "bytes_each": len(BODY),
            "wall_s": time.perf_counter() - wall,
            "client_cpu_s": time.process_time() - cpu,
            "server_cpu_s": cpu_of(server) - server_cpu,
            "connections_opened": counter.opened,
        }
        return {"versitygw": stack.settings("admin").services.versitygw_version,
                "kinds": rows, "timed_puts": timed}  # fmt: skip
    finally:
        s3.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.s3_connections",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=100, help="requests per kind (100)")
    parser.add_argument("--puts", type=int, default=500, help="timed small PUTs (500)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args.requests, args.puts)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"versitygw {result['versitygw']}")
    for row in result["kinds"]:
        print(
            f"{row['kind']:<28} {row['connections_opened']:>4} connections for "
            f"{row['requests']} requests (ss: {row['client_ports_seen_by_ss']}); "
            f"sent {row['client_sent']}; answered {row['server_answered']}"
        )
    t = result["timed_puts"]
    print(
        f"{t['puts']} PUTs of {t['bytes_each']} B: wall {t['wall_s']:.2f} s, client CPU "
        f"{t['client_cpu_s']:.2f} s, server CPU {t['server_cpu_s']:.2f} s, "
        f"{t['connections_opened']} connections"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
