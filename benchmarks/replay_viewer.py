"""The viewer and its replay server over a prepared catalog, for the replay benchmark.

    python -m benchmarks.replay_viewer CATALOG_DIR VIEWER_PORT REPLAY_PORT

Settings (S3) come from WARCFLOW_* variables. This is ``warcflow viewer``
without the capture feed (the benchmark fills the catalog itself, so no Kafka
is needed): the same app, the same catalog, the same pywb replay process
reading WARC records from S3. Prints ``ready`` once the replay server answers.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path


def main() -> None:
    import uvicorn

    from warcflow import wiring
    from warcflow.settings import load_settings

    state, port, replay_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    settings = load_settings(dict(os.environ))
    settings = replace(
        settings,
        viewer=replace(settings.viewer, state_dir=state, port=port, replay_port=replay_port),
    )
    viewer = wiring.viewer(settings)
    viewer.start_replay()
    try:
        viewer.wait_for_replay()
        print("ready", flush=True)
        uvicorn.run(
            viewer.app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    finally:
        viewer.stop()


if __name__ == "__main__":
    main()
