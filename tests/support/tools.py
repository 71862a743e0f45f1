"""The outside tools the tests check warcflow's output with, installed by project code.

``python -m tests.support.tools`` (run by ``make test`` before pytest) installs, each
once per machine into the cache (``WARCFLOW_CACHE``, default ``~/.cache/warcflow``),
pinned: ReplayWeb.page from the npm registry (infra/replaywebpage.py), and the JWAT
and gowarc WARC validators from Maven Central and the Go module proxy
(infra/warcvalidators.py). The fixtures that use them call the same installers,
which return at once when the cache has them.
"""

from __future__ import annotations

import functools
import os
import sys

from infra.replaywebpage import ReplayWebPage
from tests.support import warcs
from warcflow.settings import load_settings


def say(message: str) -> None:
    print(f"warcflow test tools: {message}", file=sys.stderr, flush=True)


@functools.cache
def replaywebpage() -> ReplayWebPage:
    player = ReplayWebPage(load_settings(dict(os.environ)).services.cache)
    player.install(say)
    return player


def main() -> None:
    player = replaywebpage()
    warcs.validators().install()
    say(
        f"ReplayWeb.page {player.version} (wabac.js {player.wabac_version()}), JWAT and "
        "gowarc validators ready"
    )


if __name__ == "__main__":
    main()
