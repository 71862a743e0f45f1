"""The ``warcflow`` command: parse arguments, build the settings once, dispatch."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from warcflow import __version__, credentials, exitcodes
from warcflow.commands import (
    captures,
    case,
    config,
    custody,
    dlq,
    export,
    report,
    search,
    services,
    sessions,
    similar,
    submit,
    users,
    viewer,
    watch,
    worker,
)
from warcflow.output import error, guard_terminal
from warcflow.settings import SettingsError, load_settings

DESCRIPTION = """\
Archive social-media posts as evidence: URLs go on a Kafka topic, agents
capture each page (WARC/1.1) into S3-compatible storage, and every capture
can be listed, downloaded and checked.

Quick start (local stack on 127.0.0.1, data in ./.warcflow):
  warcflow up --agents                 start Kafka, S3, the worker and the viewer
  warcflow submit https://example.org/post/1
  warcflow session add x.com --cookies cookies.txt --handle @research   capture logged in
  warcflow watch add feed https://example.org/feed.xml   submit each new post
  warcflow captures https://example.org/post/1
  warcflow case create kazan-2026 --title "Protests in Kazan"
  warcflow submit --csv posts.csv --case kazan-2026   a sheet: url, tags, note, case, mode
  warcflow report --case kazan-2026 -o kazan.pdf      the court pack
  open http://127.0.0.1:8080/          the viewer: timelines, replay, media, evidence
                                       (log in with the admin account `up` printed)
  warcflow down
"""

EPILOG = """\
Settings come from WARCFLOW_* environment variables or a TOML file
(--config); `warcflow config` lists them all.
Exit codes: 0 ok, 1 failed, 2 invalid input, 3 service unavailable, 4 not found.
"""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="TOML settings file (default: $WARCFLOW_CONFIG)",
    )
    common.add_argument(
        "--home",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="state directory (default: $WARCFLOW_HOME or ./.warcflow)",
    )
    parser = argparse.ArgumentParser(
        prog="warcflow",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"warcflow {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in (
        services,
        worker,
        viewer,
        users,
        sessions,
        submit,
        watch,
        case,
        captures,
        search,
        similar,
        custody,
        export,
        report,
        dlq,
        config,
    ):
        module.add_parsers(sub, common)
    return parser


def run() -> int:
    """The program (`warcflow`, `python -m warcflow`): ``main`` as a process of its own.

    Only a process of its own restores SIGPIPE's default, so that `warcflow
    captures URL | head` ends quietly as other commands do; ``main`` called in
    another program's process (a test) must not: that process would die the
    next time it writes to a closed socket (it killed pytest workers)."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return main()


def main(argv: list[str] | None = None) -> int:
    guard_terminal()  # topic and page text never reaches the terminal as escapes
    parser = build_parser()
    args = parser.parse_args(argv)
    # what followed `warcflow`: the worker's supervisor runs its children with it
    args.argv = list(argv if argv is not None else sys.argv[1:])
    overrides = {}
    if getattr(args, "home", None):
        overrides["WARCFLOW_HOME"] = args.home
    args.config = getattr(args, "config", None)
    try:
        settings = load_settings(os.environ, args.config, overrides)
    except SettingsError as exc:
        error(f"bad setting: {exc}")
        return exitcodes.USAGE
    for name in settings.unknown_env:
        error(f"ignoring unknown environment variable {name} (see `warcflow config`)")
    try:  # each command runs as its role (warcflow.credentials)
        settings = credentials.for_role(
            settings,
            getattr(args, "role", "operator"),
            local_stack=getattr(args, "local_stack", False),
        )
    except SettingsError as exc:
        error(f"bad setting: {exc}")
        return exitcodes.USAGE
    try:
        return args.handler(args, settings)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(run())
