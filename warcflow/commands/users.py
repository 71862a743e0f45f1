"""``warcflow user add | list | remove``: the viewer's accounts (viewer/accounts.py)."""

from __future__ import annotations

import getpass
import sys

from archivers.clock import iso, utc_now
from viewer.accounts import ROLES, AccountError, Accounts
from warcflow import exitcodes
from warcflow.output import error, print_json, progress, table
from warcflow.settings import Settings


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "user",
        parents=[common],
        help="add, list or remove the viewer's accounts",
        description="The viewer's accounts, kept as salted hashes in "
        "HOME/viewer/users.json (mode 0600); a running viewer applies a change at its "
        "next request. Roles: viewer (read, download evidence), submitter (also "
        "submit URLs), admin (everything).",
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = actions.add_parser(
        "add",
        parents=[common],
        help="add an account (or give one a new secret with --replace)",
        description="Add an account. With --password it asks for a password (twice, "
        "not echoed; or one line on standard input when that is not a terminal); "
        "otherwise it makes a token, NAME:SECRET, printed once — send it as "
        "`Authorization: Bearer NAME:SECRET`, or log in with NAME and SECRET. "
        "--replace gives an existing account a new secret and role, ending its sessions.",
    )
    q.add_argument("name", metavar="NAME", help="the account's name (also in custody entries)")
    q.add_argument("--role", choices=ROLES, required=True, help="what the account may do")
    q.add_argument("--password", action="store_true", help="ask for a password instead")
    q.add_argument("--replace", action="store_true", help="replace an existing account's secret")
    q.add_argument("--json", action="store_true", help="print the account (and token) as JSON")
    q.set_defaults(handler=add)

    q = actions.add_parser("list", parents=[common], help="list the accounts (never secrets)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(handler=list_accounts)

    q = actions.add_parser(
        "remove",
        parents=[common],
        help="remove an account",
        description="Remove an account: its sessions and token stop working at once.",
    )
    q.add_argument("name", metavar="NAME")
    q.add_argument("--json", action="store_true", help="print what was removed as JSON")
    q.set_defaults(handler=remove)


def _accounts(settings: Settings) -> Accounts:
    return Accounts(settings.viewer.accounts_path)


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def add(args, settings: Settings) -> int:
    accounts = _accounts(settings)
    try:
        password = _read_password() if args.password else None
        account, shown = accounts.add(
            args.name,
            args.role,
            password=password,
            at=iso(utc_now()),
            replace_existing=args.replace,
        )
    except AccountError as exc:
        error(str(exc))
        return exitcodes.USAGE
    if args.json:
        out = account.public()
        if account.kind == "token":
            out["token"] = shown
        print_json(out)
        return exitcodes.OK
    if account.kind == "token":
        print(shown)
        progress(
            f"{'new token of' if args.replace else 'added'} {account.name} ({account.role}); "
            f"the token above is shown this once, kept only hashed in {accounts.path}"
        )
    else:
        progress(
            f"{'new password of' if args.replace else 'added'} {account.name} ({account.role})"
        )
    return exitcodes.OK


def list_accounts(args, settings: Settings) -> int:
    try:
        found = [a.public() for a in _accounts(settings).all()]
    except AccountError as exc:
        error(str(exc))
        return exitcodes.USAGE
    if args.json:
        print_json(found)
    elif found:
        print(table(("NAME", "ROLE", "KIND", "CREATED"), [tuple(a.values()) for a in found]))
    else:
        progress("no accounts: `warcflow user add NAME --role admin` makes one")
    return exitcodes.OK


def remove(args, settings: Settings) -> int:
    try:
        removed = _accounts(settings).remove(args.name)
    except AccountError as exc:
        error(str(exc))
        return exitcodes.USAGE
    if args.json:
        print_json({"removed": args.name if removed else None})
    elif removed:
        progress(f"removed {args.name}: its sessions and token no longer work")
    else:
        error(f"no account {args.name!r}")
    return exitcodes.OK if removed else exitcodes.NOT_FOUND
