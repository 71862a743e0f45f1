"""``warcflow session add | login | list | test | remove``: logged-in sessions.

The sessions themselves are archivers/sessions/.

None of these prints a cookie value or a proxy's password: ``list`` shows each
session's site, the account's public handle, how many cookies it holds and
when the first expires, its proxy (``http://user:***@host:port``), and its
state (``active``, ``expired``, ``challenged``) with why and since when.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from pathlib import Path

from archivers.errors import CaptureError
from archivers.net.cookies import CookiesInvalid, parse_cookies_txt
from archivers.net.proxy import Proxy, ProxyInvalid
from archivers.sessions.login import DEFAULT_PORT
from archivers.sessions.login import DEFAULT_TIMEOUT as DEFAULT_LOGIN_TIMEOUT
from archivers.sessions.vault import ACTIVE, Session, Vault, VaultError
from warcflow import exitcodes, wiring
from warcflow.output import error, print_json, progress, table
from warcflow.settings import Settings

DESCRIPTION = """\
Logged-in sessions let the worker capture what a platform shows only to an
account: every capture of the session's site (the host and its subdomains)
sends the session's cookies — page, requisites, browser and yt-dlp requests —
and records which session saw the post (its id and the account's public
handle; never a cookie). A capture that lands on a login page or a challenge
marks its session expired or challenged and is tried again with another one.
A session may have an HTTP proxy (--proxy): then every request made with it
goes through that proxy, tunnelled with CONNECT to the address warcflow
resolved and checked itself; captures record the proxy's host:port.
Sessions are kept encrypted (AES-256-GCM) in WARCFLOW_SESSION_VAULT with the
key in WARCFLOW_SESSION_KEY; only the worker and this command read them.

Three commands to capture a logged-in post:
  warcflow session add x.com --cookies x.com_cookies.txt --handle @research_account
    (or log in in a browser warcflow opens:
     warcflow session login x.com --handle @research_account --until-cookie auth_token)
  warcflow session test x.com https://x.com/someone/status/1
  warcflow submit https://x.com/someone/status/1

Use research accounts: platforms ban accounts that archive. See docs/sessions.md.
"""

LOGIN_DESCRIPTION = """\
Open Chromium with a fresh, empty profile at URL (default https://SITE/login),
let you log in there, and keep the cookies the browser then holds for SITE and
its subdomains as a new session, exactly as `session add` does. Use a research
account.

Where the browser shows: a window on your display when DISPLAY or
WAYLAND_DISPLAY is set and --remote-debugging-port is not given; otherwise
Chromium runs headless with its DevTools on 127.0.0.1:P only, and warcflow
prints how to reach it from your own computer:
  ssh -N -L P:127.0.0.1:P SERVER, then chrome://inspect in Chrome, 'Configure…',
  add 127.0.0.1:P, and 'inspect' the page: log in in the window that opens.

It ends when SITE has set every --until-cookie NAME (auth_token for x.com,
sessionid for instagram.com: docs/sessions.md), or when you press Enter on the
terminal once logged in. After --timeout seconds, on Ctrl-C, or if the browser
is closed, nothing is saved. The profile is deleted however it ends, and no
cookie value is printed. As root, Chromium runs as WARCFLOW_BROWSER_USER with
its sandbox on; it reaches the network directly (it is not a capture).

Exit 0: the session was added (what `session add` prints); 1: nothing saved
(timeout, Enter before the cookies were set, browser closed, interrupted);
2: bad arguments, a port in use, or a vault that does not open; 3: Chromium
did not start or its DevTools did not answer.
"""


def add_parsers(sub, common) -> None:
    p = sub.add_parser(
        "session",
        parents=[common],
        help="add, log in, list, test or remove logged-in sessions",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = actions.add_parser(
        "add",
        parents=[common],
        help="add a session from a browser's cookies.txt export",
        description="Add a session for SITE from a Netscape cookies.txt file (what "
        "browser extensions such as 'Get cookies.txt LOCALLY' export, and what yt-dlp's "
        "--cookies takes). Only the cookies of SITE and its subdomains are kept. Delete "
        "the cookies file afterwards: the vault holds them encrypted.",
    )
    q.add_argument("site", metavar="SITE", help="the site it logs in to, e.g. x.com")
    q.add_argument("--cookies", metavar="FILE", required=True, help="cookies.txt ('-': stdin)")
    q.add_argument(
        "--handle",
        required=True,
        help="the account's public handle, recorded with every capture it makes",
    )
    q.add_argument(
        "--proxy",
        metavar="URL",
        help="send every request made with the session through this HTTP proxy: "
        "http://[user:password@]host:port (https and http alike are tunnelled with "
        "CONNECT; the proxy may be on a private address). '@FILE' reads the URL from "
        "FILE's first line, keeping the password off the command line, which other "
        "users of the machine can see while the command runs",
    )
    q.add_argument("--json", action="store_true", help="print the session as JSON")
    q.set_defaults(handler=add)

    q = actions.add_parser(
        "login",
        parents=[common],
        help="log in in a browser warcflow opens and keep its cookies as a session",
        description=LOGIN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("site", metavar="SITE", help="the site to log in to, e.g. x.com")
    q.add_argument(
        "--handle",
        required=True,
        help="the account's public handle, recorded with every capture it makes",
    )
    q.add_argument("--url", help="where the browser opens (default: https://SITE/login)")
    q.add_argument(
        "--until-cookie",
        metavar="NAME",
        action="append",
        default=[],
        dest="until",
        help="end the login once SITE has set this cookie (repeat for several; "
        "docs/sessions.md names them per platform)",
    )
    q.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_LOGIN_TIMEOUT,
        metavar="S",
        help="seconds to log in before giving up, saving nothing "
        f"(default {DEFAULT_LOGIN_TIMEOUT:g})",
    )
    q.add_argument(
        "--remote-debugging-port",
        type=int,
        metavar="P",
        help="run Chromium headless with its DevTools on 127.0.0.1:P (the default, on "
        f"port {DEFAULT_PORT}, when there is no display)",
    )
    q.add_argument("--json", action="store_true", help="print the session as JSON")
    q.set_defaults(handler=login)

    q = actions.add_parser("list", parents=[common], help="list sessions and their state")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(handler=list_sessions)

    q = actions.add_parser(
        "test",
        parents=[common],
        help="fetch a URL with a session and say whether it is logged in",
        description="Fetch URL with the session (or, given a site, each of its sessions) "
        "through warcflow's fetcher and say whether the answer is the post or a login "
        "wall or challenge. Marks the session active or expired accordingly. Stores "
        "nothing. Exit 0: every session tested is logged in; 1: one is not.",
    )
    q.add_argument("which", metavar="SESSION|SITE", help="a session id (s-…) or a site")
    q.add_argument("url", metavar="URL", help="a post only a logged-in account can see")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(handler=test)

    q = actions.add_parser("remove", parents=[common], help="remove a session")
    q.add_argument("session_id", metavar="SESSION")
    q.add_argument("--json", action="store_true", help="print what was removed as JSON")
    q.set_defaults(handler=remove)


def add(args, settings: Settings) -> int:
    vault = wiring.session_vault(settings)
    try:
        proxy = _proxy(args.proxy)
    except OSError as exc:
        error(f"cannot read the proxy file: {exc}")
        return exitcodes.USAGE
    except ProxyInvalid as exc:
        error(f"--proxy: {exc}")
        return exitcodes.USAGE
    try:
        text = (
            sys.stdin.read()
            if args.cookies == "-"
            else Path(args.cookies).read_text(encoding="utf-8", errors="replace")
        )
        session = vault.add(args.site, args.handle, parse_cookies_txt(text), proxy=proxy)
    except OSError as exc:
        error(f"cannot read the cookies file: {exc}")
        return exitcodes.USAGE
    except (CookiesInvalid, VaultError) as exc:
        error(str(exc))
        return exitcodes.USAGE
    return _added(args, session, vault)


def _added(args, session: Session, vault: Vault) -> int:
    """What `add` and `login` print of the session they sealed (never a cookie,
    never the proxy's password)."""
    proxy = session.proxy
    out = {
        **session.public(),
        "cookies": len(session.cookies),
        "proxy_url": proxy.shown if proxy else None,
        "vault": str(vault.path),
    }
    if args.json:
        print_json(out)
    else:
        via = f", through the proxy {proxy.shown}" if proxy else ""
        progress(
            f"added session {session.session_id}: {session.handle} on {session.site}, "
            f"{len(session.cookies)} cookies{via}, encrypted in {vault.path}; "
            f"try it with `warcflow session test {session.session_id} URL`"
        )
    return exitcodes.OK


def login(args, settings: Settings) -> int:
    from archivers.capture.browser import interactive_browser
    from archivers.sessions.login import BrowserUnavailable, LoginError, log_in, plan_login

    terminal = sys.stdin is not None and sys.stdin.isatty()
    vault = wiring.session_vault(settings)
    try:
        plan = plan_login(
            args.site,
            url=args.url,
            until=tuple(args.until),
            timeout=args.timeout,
            port=args.remote_debugging_port,
            terminal=terminal,
        )
        vault.sessions()  # a vault that does not open says so before the operator logs in
    except (LoginError, VaultError) as exc:
        error(str(exc))
        return exitcodes.USAGE
    try:
        result = asyncio.run(
            log_in(
                plan,
                functools.partial(interactive_browser, settings.browser),
                tell=progress,
                stdin=sys.stdin if terminal else None,
            )
        )
    except BrowserUnavailable as exc:
        error(str(exc))
        return exitcodes.UNAVAILABLE
    if not result.saved:
        error(result.why(plan))
        return exitcodes.FAILED
    try:
        session = vault.add(plan.site, args.handle, result.cookies)
    except VaultError as exc:
        error(str(exc))
        return exitcodes.USAGE
    return _added(args, session, vault)


def _proxy(given: str | None) -> Proxy | None:
    """The proxy of ``--proxy URL`` or ``--proxy @FILE`` (the URL on its first line)."""
    if not given:
        return None
    if given.startswith("@"):
        lines = Path(given[1:]).read_text(encoding="utf-8").splitlines()
        given = lines[0] if lines else ""
    return Proxy.parse(given)


def list_sessions(args, settings: Settings) -> int:
    try:
        found = wiring.session_vault(settings).listing()
    except VaultError as exc:
        error(str(exc))
        return exitcodes.USAGE
    if args.json:
        print_json(found)
    elif found:
        print(
            table(
                ("SESSION", "SITE", "HANDLE", "COOKIES", "PROXY", "STATE", "SINCE", "WHY"),
                [
                    (
                        s["id"],
                        s["site"],
                        s["handle"],
                        str(s["cookies"]),
                        s["proxy_url"] or "",
                        s["state"],
                        s["state_at"] or "",
                        s["reason"] or "",
                    )
                    for s in found
                ],
            )
        )
    else:
        progress("no sessions: `warcflow session add SITE --cookies FILE --handle @account`")
    return exitcodes.OK


def test(args, settings: Settings) -> int:
    from archivers.manifests.outcome import page_wall
    from archivers.net.fetcher import Fetcher

    vault = wiring.session_vault(settings)
    try:
        sessions = [s for s in vault.sessions() if args.which in (s.session_id, s.site)]
    except VaultError as exc:
        error(str(exc))
        return exitcodes.USAGE
    if not sessions:
        error(f"no session {args.which} (see `warcflow session list`)")
        return exitcodes.NOT_FOUND
    fetcher = Fetcher(settings.fetch)
    results = []
    for session in sessions:
        try:
            chain = asyncio.run(fetcher.fetch_chain(args.url, session=session.jar()))
        except CaptureError as exc:
            # the site could not be asked: say so, and leave the session's state alone
            results.append({**session.public(), "state": None, "why": str(exc), "url": args.url})
            continue
        final = chain[-1]
        try:
            wall, _measured = page_wall(final, vault.usual_sizes)  # a test notes no size
        finally:
            for exchange in chain:
                exchange.close()
        if wall is None and not 200 <= final.status < 300:
            results.append(
                {
                    **session.public(),
                    "state": None,
                    "why": f"HTTP {final.status} from {final.url}: not a post, try another URL",
                    "url": args.url,
                }
            )
            continue
        state, why = wall or (ACTIVE, f"logged in: HTTP {final.status} from {final.url}")
        vault.mark(session, state, f"session test: {why}")
        results.append({**session.public(), "state": state, "why": why, "url": args.url})
    if args.json:
        print_json(results)
    else:
        for r in results:
            shown = r["state"] or "not tested"
            progress(f"{r['id']} ({r['handle']} on {r['site']}): {shown} — {r['why']}")
    if any(r["state"] is None for r in results):
        return exitcodes.UNAVAILABLE
    return exitcodes.OK if all(r["state"] == ACTIVE for r in results) else exitcodes.FAILED


def remove(args, settings: Settings) -> int:
    try:
        gone = wiring.session_vault(settings).remove(args.session_id)
    except VaultError as exc:
        error(str(exc))
        return exitcodes.NOT_FOUND
    if args.json:
        print_json({"removed": gone.public()})
    else:
        progress(f"removed session {gone.session_id} ({gone.handle} on {gone.site})")
    return exitcodes.OK
