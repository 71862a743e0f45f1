"""``warcflow config``: the effective settings and where each value came from."""

from __future__ import annotations

from warcflow import exitcodes
from warcflow.output import print_json, table
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "config",
        parents=[common],
        help="show the effective settings",
        description="Print every setting, its value and its source (default, the TOML file, "
        "the environment or the command line). Secrets are masked.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=show)


def show(args, settings: Settings) -> int:
    rows = settings.describe()
    if args.json:
        print_json(rows)
    else:
        print(
            table(
                ("VARIABLE", "VALUE", "SOURCE"), [(r["env"], r["value"], r["source"]) for r in rows]
            )
        )
    return exitcodes.OK
