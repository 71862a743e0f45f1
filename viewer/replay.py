"""The replay server: pywb, on its own origin, reading WARC records from S3.

Run as its own process (``python -m viewer.replay --config FILE``; ``warcflow
viewer`` starts it): pywb needs gevent's monkey-patching, which must not touch
the viewer's asyncio process. Two pieces are warcflow's:

- ``WarcflowIndexSource`` answers pywb's index lookups from the viewer's
  ``/cdx`` endpoint (the merged index of every capture), since pywb cannot
  read indexes from S3. It returns plain CDXJ lines, so pywb loads each record
  itself from ``archive_paths`` (``s3://bucket/``) + the line's ``filename``;
- ``WarcflowS3Loader`` does those loads with range requests through the boto3
  client every part of warcflow uses (``archivers.store.s3.client``: endpoint,
  keys, checksum settings), without pywb's silent fallback to anonymous requests,
  of the WARC version the line names (``?versionId=``: the catalog pins each
  line to the version the capture's manifest recorded).

Archived pages get pywb's replay Content-Security-Policy, tightened: they may
load only from the replay origin and may be framed only by the viewer.

Every memento pywb serves carries ``Memento-Datetime`` and a ``Link`` with the
original, a TimeGate, a TimeMap and the memento; ``WarcflowRewriterApp`` makes
that TimeGate and TimeMap the viewer's (``memento_base``: viewer/memento.py),
which redirect as RFC 7089 clients expect, where pywb's own TimeGate answers 200.
"""

from gevent.monkey import patch_all

patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qs, urlencode, urlsplit  # noqa: E402

import requests  # noqa: E402
from pywb.utils.loaders import BaseLoader, BlockLoader  # noqa: E402
from pywb.utils.wbexception import NotFoundException  # noqa: E402
from pywb.warcserver.index.cdxobject import CDXObject  # noqa: E402
from pywb.warcserver.index.indexsource import BaseIndexSource  # noqa: E402

PREFIX = "warcflow+"


class WarcflowIndexSource(BaseIndexSource):
    """pywb index source: ``warcflow+http://viewer/cdx``."""

    token = ""  # set by configure(): the viewer's replay token, for /cdx

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.session = requests.Session()
        if self.token:  # reading the viewer may need an account; this is the replay's
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    def load_index(self, params):
        # pywb asks for the lines with key <= line < end_key (an exact match is
        # key .. key + "!"); the viewer answers the same range from its catalog.
        query = {name: _text(params[name]) for name in ("key", "end_key") if params.get(name)}
        try:
            response = self.session.get(f"{self.api_url}?{urlencode(query)}", timeout=10)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise NotFoundException(f"index lookup failed: {exc}") from None
        lines = [line for line in response.content.split(b"\n") if line]
        if not lines:
            raise NotFoundException(query["key"])
        return iter(CDXObject(line) for line in lines)

    @classmethod
    def init_from_string(cls, value):
        if isinstance(value, str) and value.startswith(PREFIX):
            return cls(value[len(PREFIX) :])
        return None

    @classmethod
    def init_from_config(cls, config):
        return None

    def __str__(self):
        return "warcflow"


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class WarcflowS3Loader(BaseLoader):
    """Range reads of ``s3://bucket/key`` with warcflow's S3 settings."""

    client: Any = None  # set by configure()

    def __init__(self, **kwargs):
        super().__init__()

    def load(self, url, offset, length):
        parts = urlsplit(url)
        extra = {}
        version = parse_qs(parts.query).get("versionId")  # pinned by the catalog
        if version:
            extra["VersionId"] = version[0]
        if offset or length not in (-1, None):
            end = "" if length in (-1, None) else str(offset + length - 1)
            extra["Range"] = f"bytes={offset}-{end}"
        return self.client.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"), **extra)[
            "Body"
        ]


def rewriter_app(memento_base: str | None):
    """pywb's RewriterApp, its Memento links pointing at the viewer when ``memento_base``."""
    from pywb.apps.rewriterapp import RewriterApp

    class WarcflowRewriterApp(RewriterApp):
        def _get_timegate_timemap(self, url, full_prefix, mod):
            if not memento_base:
                return super()._get_timegate_timemap(url, full_prefix, mod)
            return f"{memento_base}/timegate/{url}", f"{memento_base}/timemap/link/{url}"

    return WarcflowRewriterApp


def configure(s3: dict) -> None:
    from archivers.store.base import StoreSettings
    from archivers.store.s3 import client

    WarcflowS3Loader.client = client(StoreSettings(**s3))
    BlockLoader.init_default_loaders()
    BlockLoader.loaders["s3"] = WarcflowS3Loader


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m viewer.replay")
    parser.add_argument("--config", required=True, help="JSON written by viewer.server")
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        config = json.load(handle)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)-7s replay: %(message)s"
    )
    configure(config["s3"])
    WarcflowIndexSource.token = config.get("cdx_token", "")

    from pywb.apps.frontendapp import FrontEndApp
    from pywb.utils.geventserver import GeventServer, RequestURIWSGIHandler
    from pywb.warcserver.warcserver import register_source

    register_source(WarcflowIndexSource)

    class WarcflowFrontEndApp(FrontEndApp):
        REWRITER_APP_CLS = rewriter_app(config.get("memento_base"))

    collection = config["collection"]
    # pywb reads ./config.yaml unless given a file; an empty one keeps it from looking.
    empty = os.path.join(os.path.dirname(os.path.abspath(args.config)), "pywb.yaml")
    with open(empty, "w") as handle:
        handle.write("# settings come from viewer/replay.py; this file is intentionally empty\n")
    app = WarcflowFrontEndApp(
        config_file=empty,
        custom_config={
            "collections": {
                collection: {
                    "index": f"{PREFIX}{config['cdx_url']}",
                    "archive_paths": f"s3://{config['s3']['bucket']}/",
                }
            },
            "framed_replay": True,
            "enable_memento": True,
            "csp-header": config["csp"],
        },
    )
    logging.getLogger("replay").warning(
        "replay of collection %s on http://%s:%s", collection, config["host"], config["port"]
    )

    class NoDelayHandler(RequestURIWSGIHandler):
        """pywb's handler with TCP_NODELAY: gevent writes a response's headers and
        body separately, and on a keep-alive connection Nagle's algorithm then
        holds the body until the browser's delayed ACK (about 40 ms a request)."""

        def __init__(self, sock, address, server, *args, **kwargs):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass  # not TCP (a test's socketpair)
            super().__init__(sock, address, server, *args, **kwargs)

    GeventServer(
        app, port=config["port"], hostname=config["host"], handler_class=NoDelayHandler, direct=True
    )  # serves until killed


if __name__ == "__main__":
    main()
