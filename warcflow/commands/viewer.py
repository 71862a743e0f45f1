"""``warcflow viewer``: the web viewer and the replay server, in the foreground."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from warcflow import exitcodes, wiring
from warcflow.output import error, progress
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "viewer",
        parents=[common],
        help="serve the viewer and the replay server",
        description="Serve the viewer (search, per-URL timelines, capture pages with the "
        "media player and the evidence, JSON API described at /openapi.json, Memento "
        "TimeGate and TimeMap) and, on its own origin, the pywb replay server reading "
        "WARC records from S3. Follows the captures topic into a local catalog "
        "(HOME/viewer/catalog.sqlite; delete it to rebuild). Binds 127.0.0.1 unless "
        "--host says otherwise. Submitting and downloading evidence need an account "
        "(`warcflow user add`); reading needs one too unless the viewer listens on "
        "loopback with no WARCFLOW_VIEWER_URL (WARCFLOW_VIEWER_ANONYMOUS_READ).",
    )
    p.add_argument("--host", help="listen address (default WARCFLOW_VIEWER_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="viewer port (default WARCFLOW_VIEWER_PORT, 8080)")
    p.add_argument(
        "--replay-port", type=int, help="replay port (default WARCFLOW_REPLAY_PORT, 8090)"
    )
    p.set_defaults(handler=run, role="viewer")


def run(args, settings: Settings) -> int:
    viewer_settings = settings.viewer
    if args.host:
        viewer_settings = replace(viewer_settings, host=args.host, replay_host=args.host)
    if args.port:
        viewer_settings = replace(viewer_settings, port=args.port)
    if args.replay_port:
        viewer_settings = replace(viewer_settings, replay_port=args.replay_port)
    settings = replace(settings, viewer=viewer_settings)
    if not settings.streams.seals.can_seal():
        # its download events would be refused by the ledger: say so at start
        error(
            "the viewer has no MAC key to seal its download events with: set "
            "WARCFLOW_MAC_KEYS=viewer:HEX, or run `warcflow up` to make the credentials "
            "file (docs/operations.md, Roles)"
        )
        return exitcodes.USAGE
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%SZ",
    )
    logging.Formatter.converter = time.gmtime
    # SCRAM sends a proof, not the password: kafka-python's warning on every
    # SASL_PLAINTEXT connection says otherwise (see `warcflow worker`)
    logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)
    try:
        viewer = wiring.viewer(settings)
    except Exception as exc:  # noqa: BLE001
        error(f"cannot start the viewer: {exc}")
        return exitcodes.UNAVAILABLE
    progress(
        f"viewer on {viewer_settings.viewer_base}/  replay on "
        f"{viewer_settings.replay_base}/  (listening on {viewer_settings.host}:"
        f"{viewer_settings.port} and :{viewer_settings.replay_port})"
    )
    try:
        viewer.serve()
    except KeyboardInterrupt:
        pass
    return exitcodes.OK
