"""An in-process viewer on real services: catalog fed from the captures topic, the
pywb replay server, and the app served on its port (the replay server looks up its
index there). Yields (viewer, TestClient)."""

from __future__ import annotations

import contextlib
import threading

from fastapi.testclient import TestClient

from tests.support.stack import settings_of
from warcflow import wiring


@contextlib.contextmanager
def running_viewer(env: dict[str, str]):
    import uvicorn

    viewer = wiring.viewer(settings_of(env, "viewer"))  # as `warcflow viewer` runs
    viewer.start_feed()
    viewer.start_replay()
    app = viewer.app()
    with TestClient(app) as client:
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=int(env["WARCFLOW_VIEWER_PORT"]),
                log_level="warning",
                lifespan="off",
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
