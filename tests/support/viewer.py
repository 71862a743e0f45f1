"""An in-process viewer on real services: catalog fed from the captures topic, the
pywb replay server, and the app served on its port (the replay server looks up its
index there). Yields (viewer, TestClient); the client is logged in as ``tester``,
an admin account made in the viewer's accounts file (``add_account`` makes more)."""

from __future__ import annotations

import contextlib
import threading

from fastapi.testclient import TestClient

from archivers.clock import iso, utc_now
from tests.support.stack import settings_of
from warcflow import wiring

TESTER = "tester"


def add_account(viewer, name: str, role: str, password: str | None = None) -> str:
    """Add an account to ``viewer``'s file (as ``warcflow user add`` does); its
    secret (a token ``NAME:SECRET``, or the password)."""
    _account, secret = viewer.accounts.add(
        name, role, password=password, at=iso(utc_now()), replace_existing=True
    )
    return secret


@contextlib.contextmanager
def running_viewer(env: dict[str, str]):
    import uvicorn

    viewer = wiring.viewer(settings_of(env, "viewer"))  # as `warcflow viewer` runs
    token = add_account(viewer, TESTER, "admin")
    viewer.start_feed()
    viewer.start_replay()
    app = viewer.app()
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=int(env["WARCFLOW_VIEWER_PORT"]),
                log_level="warning",
                lifespan="off",
                proxy_headers=False,  # as viewer.server serves it
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        viewer.wait_for_replay()
        try:
            yield viewer, client
        finally:
            server.should_exit = True
            thread.join(10)
            viewer.stop()
