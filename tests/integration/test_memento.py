"""Memento (RFC 7089), checked by a client that is not ours: memento_client.

A post is captured twice on the real broker and S3 server; the viewer and its
pywb replay server run in-process. memento_client (HEAD only, as RFC 7089
clients are) resolves the TimeGate to the URI-M of each capture, and the URI-M's
body is the archived post itself, not a frame around it. The TimeGate and both
TimeMaps answer HEAD and GET; every memento carries ``Memento-Datetime`` and a
``Link`` with the original, the TimeGate, the TimeMap and itself. The README's
and docs/api.md's ``curl -sI`` examples are run as written.

memento_client would HEAD the URI-R itself to look for a ``rel="original"``
(and, unless told not to, for a native TimeGate): it is handed a stub response
for that and ``check_native_timegate=False``, so nothing but the viewer and
the replay server is asked anything.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest
import requests
from memento_client import MementoClient

from archivers.clock import parse_iso
from infra.processes import free_port
from tests.support.site import POST_TEXT
from tests.support.stack import ROOT, cli, poll
from tests.support.viewer import running_viewer
from viewer.views import memento_url

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mementos(pipeline, tmp_path_factory):
    env = {
        **pipeline["env"],
        "WARCFLOW_VIEWER_PORT": str(free_port()),
        "WARCFLOW_REPLAY_PORT": str(free_port()),
        "WARCFLOW_HOME": str(tmp_path_factory.mktemp("memento-home")),
    }
    url = pipeline["site"].url("/post/1")
    with running_viewer(env) as (viewer, client):
        for n in (1, 2):
            assert cli("submit", url, env=env).returncode == 0
            found = poll(
                lambda n=n: (lambda f: f if len(f) >= n else None)(
                    client.get("/api/captures", params={"url": url}).json()
                ),
                timeout=90,
                interval=0.5,
                what=f"capture {n} of {url} in the viewer",
            )
        settings = viewer.settings
        yield {
            "url": url,
            "captures": list(reversed(found)),  # oldest first
            "viewer": settings.viewer_base,
            "replay": settings.replay_base,
            "uri_m": lambda c: memento_url(
                settings.replay_base, settings.collection, url, c["fetched_at"]
            ),
        }


def _http_date(when: str) -> str:
    return format_datetime(parse_iso(when).astimezone(UTC), usegmt=True)


def _rels(link: str) -> dict[str, list[str]]:
    """rel → URIs, from a Link header or a link-format body (memento_client's parser)."""
    out: dict[str, list[str]] = {}
    for uri, attrs in MementoClient.parse_link_header(link).items():
        for rel in attrs.get("rel", []):
            for one in rel.split():
                out.setdefault(one, []).append(uri)
    return out


def test_memento_client_resolves_the_timegate_to_each_capture(mementos):
    url, viewer = mementos["url"], mementos["viewer"]
    client = MementoClient(timegate_uri=f"{viewer}/timegate/", check_native_timegate=False)
    stub = requests.Response()  # what the URI-R would say of itself: nothing
    stub.status_code = 200
    for capture in mementos["captures"]:
        when = MementoClient.convert_to_datetime(_http_date(capture["fetched_at"]))
        info = client.get_memento_info(url, when, req_uri_response=stub)
        closest = info["mementos"]["closest"]
        assert closest["uri"] == [mementos["uri_m"](capture)], info
        assert closest["datetime"] == when.replace(tzinfo=None), info
        assert closest["http_status_code"] == 200
        first, last = mementos["captures"][0], mementos["captures"][-1]
        assert info["mementos"]["first"]["uri"] == [mementos["uri_m"](first)]
        assert info["mementos"]["last"]["uri"] == [mementos["uri_m"](last)]
        assert MementoClient.is_memento(closest["uri"][0])
        # ... and the URI-M's body is the archived post itself
        body = requests.get(closest["uri"][0], timeout=30).text
        assert POST_TEXT in body and "wb_frame" not in body


def test_timegate_answers_head_and_get_with_a_redirect(mementos):
    url, viewer = mementos["url"], mementos["viewer"]
    older, newer = mementos["captures"][0], mementos["captures"][-1]
    for method in ("HEAD", "GET"):
        for capture, headers in (
            (newer, {}),
            (older, {"Accept-Datetime": _http_date(older["fetched_at"])}),
        ):
            gate = requests.request(
                method, f"{viewer}/timegate/{url}", headers=headers, allow_redirects=False
            )
            assert gate.status_code == 302, (method, gate.status_code, gate.text)
            assert gate.headers["Location"] == mementos["uri_m"](capture)
            assert gate.headers["Vary"] == "accept-datetime"
            assert "Memento-Datetime" not in gate.headers  # a TimeGate is not a memento
            rels = _rels(gate.headers["Link"])
            assert rels["original"] == [url]
            assert f"{viewer}/timemap/link/{url}" in rels["timemap"]
            assert rels["first"] == [mementos["uri_m"](older)]
            assert rels["last"] == [mementos["uri_m"](newer)]
    assert requests.head(f"{viewer}/timegate/{url}?never=captured").status_code == 404
    bad = requests.get(f"{viewer}/timegate/{url}", headers={"Accept-Datetime": "yesterday"})
    assert bad.status_code == 400


def test_every_memento_says_its_datetime_and_links(mementos):
    url, viewer = mementos["url"], mementos["viewer"]
    for capture in mementos["captures"]:
        uri_m = mementos["uri_m"](capture)
        for method in ("HEAD", "GET"):
            answer = requests.request(method, uri_m, allow_redirects=False, timeout=30)
            assert answer.status_code == 200, (method, uri_m, answer.status_code)
            assert answer.headers["Memento-Datetime"] == _http_date(capture["fetched_at"])
            rels = _rels(answer.headers["Link"])
            assert rels["original"] == [url]
            assert rels["timegate"] == [f"{viewer}/timegate/{url}"]
            assert rels["timemap"] == [f"{viewer}/timemap/link/{url}"]
            assert rels["memento"] == [uri_m]
            if method == "GET":
                assert POST_TEXT in answer.text


def test_timemaps_list_every_memento_in_link_and_json_form(mementos):
    url, viewer = mementos["url"], mementos["viewer"]
    older, newer = mementos["captures"][0], mementos["captures"][-1]
    link = f"{viewer}/timemap/link/{url}"
    head = requests.head(link)
    assert head.status_code == 200 and head.headers["content-type"].startswith(
        "application/link-format"
    )
    timemap = requests.get(link)
    rels = _rels(timemap.text)
    assert rels["original"] == [url] and rels["self"] == [link]
    assert rels["timegate"] == [f"{viewer}/timegate/{url}"]
    listed = [u for r in ("memento", "first", "last") for u in rels.get(r, [])]
    assert sorted(set(listed)) == sorted({mementos["uri_m"](older), mementos["uri_m"](newer)})
    for m in (older, newer):
        assert f'datetime="{_http_date(m["fetched_at"])}"' in timemap.text

    # MemGator's JSON TimeMap
    json_url = f"{viewer}/timemap/json/{url}"
    assert requests.head(json_url).status_code == 200
    doc = requests.get(json_url).json()
    assert doc["original_uri"] == url and doc["self"] == json_url
    assert doc["timegate_uri"] == f"{viewer}/timegate/{url}"
    assert doc["timemap_uri"] == {"link_format": link, "json_format": json_url}
    assert [m["uri"] for m in doc["mementos"]["list"]] == [
        mementos["uri_m"](older),
        mementos["uri_m"](newer),
    ]
    assert doc["mementos"]["first"] == doc["mementos"]["list"][0]
    assert doc["mementos"]["last"] == doc["mementos"]["list"][-1]
    assert doc["mementos"]["list"][0]["datetime"] == parse_iso(older["fetched_at"]).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )

    # pywb's own TimeMaps on the replay origin, from the same index; its own TimeGate
    # answers 200 with the framed page instead of redirecting (docs/api.md says so)
    pywb_link = requests.get(f"{mementos['replay']}/warcflow/timemap/link/{url}")
    assert pywb_link.status_code == 200 and pywb_link.text.count('rel="memento"') >= 2
    pywb_gate = requests.head(f"{mementos['replay']}/warcflow/{url}", allow_redirects=False)
    assert pywb_gate.status_code == 200 and "Location" not in pywb_gate.headers
    pywb = requests.get(f"{mementos['replay']}/warcflow/timemap/json/{url}")
    assert pywb.status_code == 200 and pywb.headers["content-type"].startswith("text/x-ndjson")
    rows = [json.loads(line) for line in pywb.text.splitlines() if line]
    pages = [r for r in rows if r["url"] == url and r.get("status") == "200"]
    assert {r["timestamp"] for r in pages} >= {
        re.sub(r"\D", "", m["fetched_at"])[:14] for m in (older, newer)
    }


def _curl_examples(path: Path) -> list[str]:
    """Every ``curl -sI`` command in a document's code blocks (continuation lines joined)."""
    text = path.read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.startswith("curl -sI")]
    return commands


@pytest.mark.parametrize("doc", ["README.md", "docs/api.md"])
def test_the_documented_curl_examples_answer_as_documented(mementos, doc):
    commands = _curl_examples(ROOT / doc)
    assert commands, f"no curl -sI example in {doc}"
    for command in commands:
        command = command.replace("http://127.0.0.1:8080", mementos["viewer"]).replace(
            "https://example.org/post/1", mementos["url"]
        )
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, (command, done.stderr)
        status = done.stdout.splitlines()[0]
        headers = done.stdout.lower()
        if "/timegate/" in command:
            assert " 302" in status, (command, done.stdout)
            assert "vary: accept-datetime" in headers and 'rel="original"' in headers
            expected = mementos["captures"][-1]  # the newest, without Accept-Datetime
            asked = re.search(r"Accept-Datetime: ([^'\"]+)", command)
            if asked:  # the capture closest to the date asked for
                when = parsedate_to_datetime(asked.group(1))
                expected = min(
                    mementos["captures"],
                    key=lambda c: abs((parse_iso(c["fetched_at"]) - when).total_seconds()),
                )
            assert f"location: {mementos['uri_m'](expected)}".lower() in headers, done.stdout
        else:
            assert " 200" in status, (command, done.stdout)
