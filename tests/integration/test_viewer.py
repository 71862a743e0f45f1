"""The viewer's JSON API and pages, in-process, over captures made on the real
broker and S3 server; replay through the real pywb server reading from S3."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.support import media as testmedia
from tests.support import warcs
from tests.support.observe import read_topic
from tests.support.readable import text_of
from tests.support.site import Route, TestSite
from tests.support.stack import cli, poll, settings_of, store_of
from tests.support.viewer import add_account, running_viewer
from viewer.views import replay_url

pytestmark = pytest.mark.integration
PIPELINE_ENV = {"WARCFLOW_MEDIA_HASHES": "true"}
"""The similar test needs the media agent's perceptual hashes (off elsewhere in tests)."""

KAZAN = testmedia.post(
    "Mobilized soldiers protest near Kazan",
    '<video src="/media/clip.webm" autoplay muted loop playsinline></video>',
)


@pytest.fixture(scope="module")
def viewer_env(pipeline, media_set, tmp_path_factory):
    """The module's pipeline plus an in-process viewer (catalog fed from the topic)."""
    site = pipeline["site"]
    from infra.processes import free_port

    env = {
        **pipeline["env"],
        "WARCFLOW_VIEWER_PORT": str(free_port()),
        "WARCFLOW_REPLAY_PORT": str(free_port()),
        "WARCFLOW_HOME": str(tmp_path_factory.mktemp("viewer-home")),
        # low enough for test_accounts_guard_every_change_on_the_real_viewer to reach
        "WARCFLOW_VIEWER_SUBMITS_PER_MINUTE": "4",
    }
    with TestSite() as canary:  # open while the module runs: a leak there would be counted
        testmedia.install(site, media_set, canary.origin)
        site.routes["/post/kazan"] = Route(KAZAN)
        with running_viewer(env) as (viewer, client):
            yield {**pipeline, "env": env, "client": client, "viewer": viewer}
        assert canary.hits == {}, f"the canary was reached: {canary.hits}"


def captured(env, client, url, media=0):
    """Submit ``url`` and wait until the viewer's API shows it with ``media`` media done."""
    assert cli("submit", url, env=env).returncode == 0

    def ready():
        found = client.get("/api/captures", params={"url": url}).json()
        if found and len(found[0]["media"]) >= media:
            return found
        return None

    return poll(ready, timeout=90, interval=0.5, what=f"the viewer to show {url}")


def test_api_returns_what_the_cli_prints_plus_replay_links(viewer_env):
    env, client, site = viewer_env["env"], viewer_env["client"], viewer_env["site"]
    url = site.url("/post/kazan")
    api = captured(env, client, url, media=1)
    printed = json.loads(cli("captures", url, "--json", env=env).stdout)
    assert api == printed
    [capture] = api
    replay_base = viewer_env["viewer"].settings.replay_base
    assert capture["replay_url"] == replay_url(replay_base, "warcflow", url, capture["fetched_at"])
    assert capture["replay_url"].startswith("http://localhost:")  # not the viewer's host
    assert capture["media"][0]["video_codec"] == "vp9"

    detail = client.get(f"/api/captures/{capture['capture_id']}").json()
    assert detail["capture"] == capture
    assert detail["manifest"]["provenance"]["topic"].endswith(".ingest")
    assert detail["media"][0]["sha256"] == capture["media"][0]["sha256"]
    assert client.get("/api/captures/01M894TV61TJ0X30734E5QKMXX").status_code == 404
    assert client.get("/api/captures", params={"url": "ftp://x/"}).status_code == 400

    hits = client.get("/api/search", params={"q": "kazan"}).json()
    assert [h["url"] for h in hits] == [url]
    openapi = client.get("/openapi.json").json()
    assert "/api/captures" in openapi["paths"] and "/api/submit" in openapi["paths"]


def test_pages_show_the_timeline_the_capture_and_its_evidence(viewer_env):
    env, client, site = viewer_env["env"], viewer_env["client"], viewer_env["site"]
    url = site.url("/post/kazan")
    [capture] = captured(env, client, url, media=1)[:1]
    timeline = client.get("/url", params={"u": url})
    assert timeline.status_code == 200 and f"/capture/{capture['capture_id']}" in timeline.text
    page = client.get(f"/capture/{capture['capture_id']}")
    assert page.status_code == 200
    for fact in (
        capture["sha256"],
        capture["warc_key"],
        capture["media"][0]["sha256"],
        capture["replay_url"],
        "320×240",
    ):
        assert fact in page.text, fact
    csp = page.headers["content-security-policy"]
    assert "frame-src http://localhost:" in csp and "script-src 'self'" in csp
    assert client.get("/").status_code == 200
    assert "kazan" in client.get("/search", params={"q": "kazan"}).text


def test_a_deleted_post_is_called_deleted_on_its_timeline(viewer_env):
    env, client, site = viewer_env["env"], viewer_env["client"], viewer_env["site"]
    url = site.url("/gone?viewer")
    [capture] = captured(env, client, url)
    assert capture["status"] == "failed" and capture["outcome"] == "deleted"
    timeline = client.get("/url", params={"u": url}).text
    assert 'class="outcome outcome-deleted"' in timeline and ">deleted<" in timeline


def test_files_download_with_ranges_and_digests(viewer_env, media_set):
    env, client, site = viewer_env["env"], viewer_env["client"], viewer_env["site"]
    [capture] = captured(env, client, site.url("/post/webm"), media=1)[:1]
    media = capture["media"][0]
    original = media_set.path("clip.webm").read_bytes()
    whole = client.get(f"/media/{media['sha256']}")
    assert whole.content == original and whole.headers["content-type"] == "video/webm"
    part = client.get(f"/media/{media['sha256']}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == original[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(original)}"
    assert client.get(f"/media/{media['sha256']}/poster").content[:3] == b"\xff\xd8\xff"
    warc = client.get(f"/capture/{capture['capture_id']}/warc")
    assert hashlib.sha256(warc.content).hexdigest() == capture["sha256"]
    assert client.get(f"/media/{'0' * 64}").status_code == 404


def test_submit_api_validates_like_the_cli(viewer_env):
    env, client, site, prefix = (
        viewer_env["env"],
        viewer_env["client"],
        viewer_env["site"],
        viewer_env["prefix"],
    )
    before = len(read_topic(env, f"{prefix}.ingest"))
    refused = client.post("/api/submit", json={"urls": [site.url("/gzip"), "file:///etc/passwd"]})
    assert refused.status_code == 400
    assert any("only http and https" in e for e in refused.json()["errors"])
    assert len(read_topic(env, f"{prefix}.ingest")) == before
    form = client.post("/submit", data={"urls": "not a url", "tags": "", "note": ""})
    assert form.status_code == 400 and "Nothing was submitted" in form.text
    accepted = client.post("/api/submit", json={"urls": [site.url("/gzip")], "tags": ["api"]})
    assert accepted.status_code == 202 and accepted.json()[0]["url"] == site.url("/gzip")
    poll(
        lambda: client.get("/api/captures", params={"url": site.url("/gzip")}).json(),
        timeout=60,
        what="the submitted URL to be captured",
    )


def test_replay_serves_the_archived_bytes_from_s3(viewer_env):
    env, client, site = viewer_env["env"], viewer_env["client"], viewer_env["site"]
    [capture] = captured(env, client, site.url("/post/1"))[:1]
    raw_url = replay_url(
        viewer_env["viewer"].settings.replay_base,
        "warcflow",
        site.url("/static/photo.png"),
        capture["fetched_at"],
        original=True,
    )
    with urllib.request.urlopen(raw_url, timeout=10) as response:
        assert response.read() == site.routes["/static/photo.png"].body
        assert response.headers["Memento-Datetime"]
    store = store_of(env)
    assert store.head(capture["warc_key"]) is not None  # read from here, by range requests


def test_downloads_and_replay_read_the_version_the_manifest_recorded(viewer_env):
    """An overwrite of a WARC (a newer version; Object Lock keeps the old one) is
    what the S3 root, or an unpinned reader, would get: the viewer's download and
    the replay still serve the bytes the capture's manifest vouches for."""
    import base64

    env, client, site = viewer_env["env"], viewer_env["client"], viewer_env["site"]
    url = site.url("/post/1?pinned")
    [capture] = captured(env, client, url)[:1]
    original = client.get(f"/capture/{capture['capture_id']}/warc").content
    assert hashlib.sha256(original).hexdigest() == capture["sha256"]
    root = store_of(env, "admin")
    forged = b"not the capture " * 4096
    warcs.overwritten(root.bucket, capture["warc_key"])  # the session's sweep leaves it out
    root.client.put_object(Bucket=root.bucket, Key=capture["warc_key"], Body=forged)
    assert root.get_bytes(capture["warc_key"]) == forged  # the latest version now

    again = client.get(f"/capture/{capture['capture_id']}/warc")
    assert again.status_code == 200 and again.content == original
    digest = base64.b64encode(hashlib.sha256(original).digest()).decode()
    assert again.headers["digest"] == f"sha-256={digest}"
    raw_url = replay_url(
        viewer_env["viewer"].settings.replay_base,
        "warcflow",
        url,
        capture["fetched_at"],
        original=True,
    )
    with urllib.request.urlopen(raw_url, timeout=10) as response:
        assert response.read() == site.routes["/post/1"].body

    # a media original is named by its SHA-256: written over with other bytes, the
    # S3 server's own checksum no longer matches its name and nothing is served
    clip = b"the clip as captured " * 1024
    sha = hashlib.sha256(clip).hexdigest()
    key = f"media/sha256/{sha[:2]}/{sha}.mp4"
    for body in (clip, forged):
        root.client.put_object(Bucket=root.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256")
    refused = client.get(f"/media/{sha}")
    assert refused.status_code == 409 and "no longer holds" in refused.text, refused.text


def test_accounts_guard_every_change_on_the_real_viewer(viewer_env):
    """Review F7 on the viewer's real port: a cross-site form post with a forged
    operator and case is refused, an anonymous download is refused (no ledger
    entry), a viewer account cannot submit and a submitter (logged in by the form,
    with its CSRF token) can, the download's custody event names its account,
    submits past the rate limit get 429 with Retry-After, and an audit answers
    "pending" at once and its result later."""
    import requests

    def session(**headers) -> requests.Session:
        made = requests.Session()
        made.headers.update(headers)
        return made

    env, site, prefix = viewer_env["env"], viewer_env["site"], viewer_env["prefix"]
    base = f"http://127.0.0.1:{env['WARCFLOW_VIEWER_PORT']}"
    viewer = viewer_env["viewer"]
    val = add_account(viewer, "val", "viewer")
    sam_password = "sam's long passphrase"
    add_account(viewer, "sam", "submitter", password=sam_password)
    [capture] = captured(env, viewer_env["client"], site.url("/post/1?accounts"))
    ingest = f"{prefix}.ingest"
    before = len(read_topic(env, ingest))

    with session() as anonymous:
        forged = anonymous.post(
            base + "/submit",
            data={"urls": site.url("/post/decoy"), "operator": "Jane Doe", "case_id": "KZN-17"},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert forged.status_code == 403  # before: 200, submitted with the forged context
        download = anonymous.get(f"{base}/capture/{capture['capture_id']}/warc")
        assert download.status_code == 401  # before: 200 and a ledger entry

    with session(Authorization=f"Bearer {val}") as reader:
        refused = reader.post(base + "/api/submit", json={"urls": [site.url("/post/1?by-val")]})
        assert refused.status_code == 403
        assert len(read_topic(env, ingest)) == before  # nothing was submitted
        got = reader.get(f"{base}/capture/{capture['capture_id']}/warc")
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == capture["sha256"]

        def downloads():
            return [
                json.loads(m.value)
                for m in read_topic(env, f"{prefix}.custody")
                if json.loads(m.value).get("event") == "download"
                and json.loads(m.value).get("capture_id") == capture["capture_id"]
            ]

        # one: the anonymous download was not recorded
        [event] = poll(downloads, timeout=30, what="the download's custody event")
        assert event["who"] == "val (viewer)"

        # the audit: pending at once (never run in the request), then the cached result
        first = reader.get(f"{base}/api/captures/{capture['capture_id']}/audit")
        assert first.status_code == 202 and first.json()["status"] == "pending"
        assert int(first.headers["retry-after"]) > 0
        report = poll(
            lambda: (lambda r: r.json() if r.status_code == 200 else None)(
                reader.get(f"{base}/api/captures/{capture['capture_id']}/audit")
            ),
            timeout=60,
            interval=0.5,
            what="the audit's result",
        )
        assert report["capture_id"] == capture["capture_id"] and report["checks"]

    with session() as sam:
        login = sam.post(
            base + "/login",
            data={"name": "sam", "password": sam_password},
            headers={"Origin": base},
        )
        assert login.status_code == 200 and "sam (submitter)" in login.text  # after the redirect
        form = sam.get(base + "/submit").text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form).group(1)
        url = site.url("/post/1?by-sam")
        done = sam.post(
            base + "/submit", data={"urls": url, "csrf": csrf}, headers={"Origin": base}
        )
        assert done.status_code == 200 and "Submitted 1 URL" in done.text
        [request] = [
            json.loads(m.value)
            for m in read_topic(env, ingest)
            if json.loads(m.value)["url"] == url
        ]
        assert request["source"] == "viewer:sam" and request["operator"] == "sam"
        # 4 a minute: this one and three more (refused as invalid, still counted), then 429
        codes = [
            sam.post(
                base + "/api/submit", json={"urls": ["not a url"]}, headers={"X-CSRF-Token": csrf}
            ).status_code
            for _ in range(4)
        ]
        assert codes == [400, 400, 400, 429]
        limited = sam.post(
            base + "/api/submit", json={"urls": ["not a url"]}, headers={"X-CSRF-Token": csrf}
        )
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_the_real_viewer_shows_an_expired_session_to_admins_from_the_state_file_alone(
    viewer_env, tmp_path
):
    """Issue 17: a worker's vault elsewhere (tmp_path) marks a session expired; the
    viewer's machine is given its state file only, where WARCFLOW_SESSION_VAULT
    (here the default, HOME/sessions/vault) puts it. On the viewer's real port an
    admin's pages carry the banner and /sessions lists the session; a viewer
    account sees neither."""
    import requests

    from archivers.net.cookies import parse_cookies_txt
    from archivers.sessions.pool import SessionPool
    from archivers.sessions.vault import Vault

    env, viewer = viewer_env["env"], viewer_env["viewer"]
    base = f"http://127.0.0.1:{env['WARCFLOW_VIEWER_PORT']}"
    worker_vault = Vault(tmp_path / "vault", tmp_path / "vault.key")
    cookies = parse_cookies_txt(".x.com\tTRUE\t/\tTRUE\t2000000000\tauth_token\tsecret-tok\n")
    good = worker_vault.add("x.com", "@research_account", cookies)
    spent = worker_vault.add("x.com", "@spent_account", cookies)
    SessionPool(worker_vault).expire(spent, "expired", "redirected to the login page")

    state = Path(env["WARCFLOW_HOME"]) / "sessions" / "vault.state.json"
    assert viewer.settings.session_state == state.absolute()
    assert not (state.parent / "vault").exists()  # the viewer's home holds no vault, no key
    state.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(worker_vault.state_path, state)
    admin = add_account(viewer, "ada", "admin")
    reader = add_account(viewer, "rhea", "viewer")
    try:
        with requests.Session() as web:
            web.headers["Authorization"] = f"Bearer {admin}"
            home = web.get(base + "/")
            assert home.status_code == 200
            assert "1 session needs attention: expired or challenged, no capture uses it." in (
                text_of(home.text)
            )
            assert '<a href="/sessions">1 session needs attention</a>' in home.text
            page = web.get(base + "/sessions")
            assert page.status_code == 200
            shown = text_of(page.text)
            assert (
                f"{spent.session_id} x.com @spent_account expired redirected to the login page"
                in shown
            )
            assert f"{good.session_id} x.com @research_account active added" in shown
            assert "secret-tok" not in page.text
        with requests.Session() as web:
            web.headers["Authorization"] = f"Bearer {reader}"
            refused = web.get(base + "/sessions")
            assert refused.status_code == 403 and spent.session_id not in refused.text
            assert "it needs admin" in text_of(refused.text)
            assert "attention" not in web.get(base + "/").text
    finally:
        state.unlink()


def similar_post(title: str, author: str, published: str, clip: str) -> bytes:
    return testmedia.post(
        title,
        f'<meta property="og:video" content="{clip}">'
        f'<meta name="author" content="{author}">'
        f'<meta property="article:published_time" content="{published}">',
    )


def test_similar_finds_a_cropped_repost_in_another_capture_earliest_first(
    viewer_env, clip_variants, capsys
):
    """The same clip, cropped 10 % and re-encoded by a repost (other bytes), on two
    posts captured one after the other through the pipeline: `warcflow similar` on
    the original's digest lists both captures, the first one marked earliest, with
    the posts' claimed authors and the vPDQ match quality; `--file` with a
    watermarked copy (never captured) finds both too; an unrelated clip finds nothing."""
    env, client, site = viewer_env["env"], viewer_env["client"], viewer_env["site"]
    site.routes["/similar/original.mp4"] = Route(
        file=clip_variants["original"], content_type="video/mp4"
    )
    site.routes["/similar/crop.mp4"] = Route(file=clip_variants["crop"], content_type="video/mp4")
    site.routes["/post/similar-first"] = Route(
        similar_post(
            "The clip", "Kazan Eyewitness", "2022-11-16T16:04:05Z", "/similar/original.mp4"
        )
    )
    site.routes["/post/similar-repost"] = Route(
        similar_post("Reposted", "War Tracker", "2022-11-17T09:00:00Z", "/similar/crop.mp4")
    )
    [first] = captured(env, client, site.url("/post/similar-first"), media=1)[:1]
    [repost] = captured(env, client, site.url("/post/similar-repost"), media=1)[:1]
    original = first["media"][0]
    crop = repost["media"][0]
    assert original["sha256"] != crop["sha256"]  # byte digests differ
    assert original["perceptual"]["vpdq_frames"] == 4  # recorded by the media agent

    def both_indexed():  # the catalog applies the media events as they come
        done = cli("similar", f"sha256:{original['sha256']}", "--json", env=env)
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        return found if found["seen_in"] == 2 else None

    found = poll(both_indexed, timeout=60, interval=0.5, what="both captures in the index")
    rows = found["captures"]
    assert [r["capture_id"] for r in rows] == [first["capture_id"], repost["capture_id"]]
    assert [r["earliest"] for r in rows] == [True, False]
    assert rows[0]["match"]["algorithm"] == "identical"
    assert rows[1]["match"]["algorithm"] == "vpdq"
    assert rows[1]["match"]["query_percent"] == 100.0 and rows[1]["match"]["distance"] <= 31
    assert [r["post"]["author"] for r in rows] == ["Kazan Eyewitness", "War Tracker"]
    assert all(r["post"]["claimed"] for r in rows)

    done = cli("similar", "--file", str(clip_variants["watermark"]), "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert [r["capture_id"] for r in json.loads(done.stdout)["captures"]] == [
        first["capture_id"],
        repost["capture_id"],
    ]
    # the rest in-process (the command's handler with the settings a subprocess gets)
    code, _out, err = in_process(capsys, env, "--file", str(clip_variants["unrelated"]))
    assert code == 0 and "no capture carried it" in err
    # the repost is deleted; after its recheck the lineage says it is gone, and since when
    site.delete("/post/similar-repost")
    done = cli("recheck", site.url("/post/similar-repost"), "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["state"] == "gone", done.stderr
    code, out, _err = in_process(capsys, env, f"sha256:{original['sha256']}")
    assert code == 0 and "earliest" in out and "War Tracker" in out and "gone since" in out
    code, out, _err = in_process(capsys, env, f"sha256:{original['sha256']}", "--json")
    gone = json.loads(out)["captures"][1]["liveness"]
    assert gone["state"] == "gone" and gone["gone_since"]
    assert in_process(capsys, env, f"sha256:{'0' * 64}")[0] == 4
    assert in_process(capsys, env, "sha256:xyz")[0] == 2
    by_capture = client.get("/api/similar", params={"capture": repost["capture_id"]}).json()
    assert by_capture["seen_in"] == 2 and by_capture["captures"][0]["earliest"]
    assert {r["query_sha256"] for r in by_capture["captures"]} == {crop["sha256"]}
    bad = client.post("/api/similar", json={"perceptual": {"vpdq": {"features": "x"}}})
    assert bad.status_code == 422
    csv = client.get(f"/api/lineage/{original['sha256']}", params={"format": "csv"})
    assert csv.status_code == 200 and len(csv.text.splitlines()) == 3
    # the derivation is documented in the media WARC, about the record with the payload
    from warcio.archiveiterator import ArchiveIterator

    data = io.BytesIO(store_of(env).get_bytes(original["warc_key"]))
    records = [
        (dict(r.rec_headers.headers), r.content_stream().read()) for r in ArchiveIterator(data)
    ]
    [(headers, body)] = [
        (h, b)
        for h, b in records
        if h.get("WARC-Target-URI", "").startswith("urn:warcflow:derivation:")
    ]
    doc = json.loads(body)
    assert doc["schema"] == "warcflow.derivation" and doc["of"]["sha256"] == original["sha256"]
    assert headers["WARC-Refers-To"] == doc["of"]["record_id"]
    assert doc["of"]["record_id"] in {h.get("WARC-Record-ID") for h, _b in records}


def in_process(capsys, env, *args: str) -> tuple[int, str, str]:
    """``warcflow similar ARGS`` run by its handler in this process."""
    from warcflow.cli import build_parser

    parsed = build_parser().parse_args(["similar", *args])
    capsys.readouterr()
    code = parsed.handler(parsed, settings_of(env))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_finds_a_post_by_its_russian_text_author_and_tag(viewer_env):
    """A post whose page states its text in Russian, captured through the pipeline:
    `warcflow search` finds it by words of its text in any case, the viewer's search
    box shows it with the words marked, and tag: finds it by the submission's tag."""
    env, client, site = viewer_env["env"], viewer_env["client"], viewer_env["site"]
    site.routes["/post/kazarma"] = Route(
        testmedia.post(
            "Казань",
            '<meta property="og:description" content="Мобилизованные вышли к казарме в Казани">'
            '<meta name="author" content="Казанский очевидец">'
            "<p>Комментарий: колонна стоит у КПП</p>"  # only in the page's text
            '<script>var hidden = "скрытоеслово";</script>',  # not the page's text
        )
    )
    url = site.url("/post/kazarma")
    assert cli("submit", url, "--tag", "kzn-barracks", env=env).returncode == 0
    poll(
        lambda: client.get("/api/captures", params={"url": url}).json(),
        timeout=90,
        interval=0.5,
        what=f"the viewer to show {url}",
    )
    done = cli("search", "КАЗАРМЕ", "казани", "--json", env=env)
    assert done.returncode == 0, done.stderr
    [hit] = json.loads(done.stdout)["results"]
    assert hit["url"] == url and hit["author"] == "Казанский очевидец"
    assert [hit["snippet"][a:b] for a, b in hit["marks"]] == ["казарме", "Казани"]
    assert hit["replay_url"].startswith(viewer_env["viewer"].settings.replay_base)
    box = client.get("/search", params={"q": "казарме"}).text
    assert "<mark>казарме</mark>" in box and "Казанский очевидец" in box
    tagged = client.get("/api/search/text", params={"q": "tag:kzn-barracks"}).json()
    assert [r["url"] for r in tagged["results"]] == [url]
    # the words of the page's readable text too, not what its scripts hold
    for query in ("колонна", "page:кпп"):
        found = json.loads(cli("search", query, "--json", env=env).stdout)["results"]
        assert [r["url"] for r in found] == [url], query
    hidden = cli("search", "скрытоеслово", "--json", env=env)
    assert hidden.returncode == 0 and json.loads(hidden.stdout)["results"] == []
