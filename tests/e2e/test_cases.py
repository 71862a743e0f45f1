"""A case worked end to end from the CLI, on the real broker, S3 server, Chromium and TSA.

The Kazan case: investigators create it, submit their spreadsheet (two sheets:
Excel's UTF-16 "Unicode Text" and a UTF-8 CSV) — a post, a post with a clip
captured in the browser, and a link that is already dead; write a note on a
capture; the poster then deletes the first post and a recheck sees it gone.
Then, as a person would check it, with other people's tools where there are:

- ``captures --case --csv`` gives each row its status, capture id, replay
  link, SHA-256 and gone-since, and ``--input`` puts them beside the user's
  own columns;
- the court pack: ``pdftotext`` (poppler) finds in it every digest and every
  time the manifests hold, ``pdftoppm`` renders each page with ink in its body,
  ``pdfimages`` lists the screenshot and the clip's frames, and the PDF's
  SHA-256 is in the ledger as an export of each capture;
- the case WACZ opens in ReplayWeb.page (the post's text in the replay frame,
  the clip playing, its own verdict on the signature ``matched``), and
  ``warcflow verify`` accepts it with S3 out of reach; ``export --only`` holds
  that one capture and nothing else of the case;
- the sheet watch submits each new row of a published sheet once, across a
  worker restart, and an edited row not again.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from archivers.custody.ledger import capture_entries
from archivers.warc.cdxj import timestamp14
from streams.clients.reader import read_topic
from tests.support import media as testmedia
from tests.support.observe import ARTIFACTS
from tests.support.replayer import Player, chromium
from tests.support.site import Route, TestSite
from tests.support.stack import WorkerProcess, cli, kafka_of, poll, store_of

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CASE = "kazan-2026"
TEXT = "Mobilized soldiers protest in Kazan"
CLIP_TEXT = "Video from the square in Kazan"
AUTHOR = "Kazan Witness"
PUBLISHED = "2026-09-21T10:00:00+00:00"
HEX64 = re.compile(r"\b[0-9a-f]{64}\b")
ISO = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")

POST_A = (
    '<!doctype html><html><head><meta charset="utf-8"><title>Kazan protest</title>'
    f'<meta name="author" content="{AUTHOR}">'
    f'<meta property="article:published_time" content="{PUBLISHED}">'
    f"</head><body><article><p>{TEXT}</p></article></body></html>"
).encode()


def run_json(*args, env, ok=(0,), stdin=None):
    done = cli(*args, "--json", env=env, timeout=300, stdin=stdin)
    assert done.returncode in ok, (args, done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout)


def sheet(rows, delimiter=",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def settled(env) -> list[dict] | None:
    """The case's captures once all three have ended and the clip is stored."""
    found = run_json("captures", "--case", CASE, env=env)
    if len(found) < 3 or any(c["status"] == "pending" for c in found):
        return None
    clip = next((c for c in found if c["url"].endswith("/post/clip")), None)
    if clip is None or not clip["media"] or clip["media"][0]["status"] != "stored":
        return None
    return found


def noted_case(env) -> dict | None:
    """``case show`` once the note and the recheck's finding are in it."""
    shown = run_json("case", "show", CASE, env=env)
    done = any(c["notes"] for c in shown["captures"]) and any(
        c["gone_since"] for c in shown["captures"]
    )
    return shown if done else None


@pytest.fixture(scope="module")
def case(stack, media_set, tmp_path_factory):
    root = tmp_path_factory.mktemp("case")
    with TestSite() as site:
        testmedia.install(site, media_set, "http://127.0.0.1:9")
        site.routes["/post/a"] = Route(POST_A)
        site.routes["/post/clip"] = Route(
            testmedia.post(CLIP_TEXT, '<video src="/media/clip.mp4" controls muted></video>')
        )
        env = stack.agent_env(
            "k",
            site.allow,
            WARCFLOW_LEDGER_HEAD_EVERY="2",
            WARCFLOW_TSA="local",
            WARCFLOW_BROWSER_EXECUTABLE=CHROMIUM,
            WARCFLOW_BROWSER_IDLE_TIMEOUT="3",
            WARCFLOW_OPERATOR="alice",
            WARCFLOW_WATCH_MIN_EVERY="0.5",
        )
        worker = WorkerProcess(env, root / "worker.log").start()
        try:
            made = run_json(
                "case", "create", CASE, "--title", "Protests in Kazan",
                "--description", "Mobilisation protests, September 2026",
                "--member", "alice", "--member", "bob", env=env,
            )  # fmt: skip
            assert made["revision"] == 1 and made["created_by"] == "alice"
            # Excel's "Unicode Text": UTF-16 LE with a BOM, tab separated; a column of
            # the investigators' own
            excel = root / "posts-excel.txt"
            rows = [
                ("url", "tags", "note", "case", "mode", "tip from"),
                (site.url("/post/a"), "kazan, protest", "first video", CASE, "static", "source 1"),
                (site.url("/post/clip"), "kazan; clip", "", CASE, "browser", "source 2"),
            ]
            excel.write_bytes(codecs.BOM_UTF16_LE + sheet(rows, "\t").encode("utf-16-le"))
            utf8 = root / "posts.csv"
            utf8.write_text(sheet([("url", "case"), (site.url("/post/gone-already"), CASE)]))
            for path in (excel, utf8):
                done = run_json("submit", "--csv", str(path), env=env)
                assert all(d["case_id"] == CASE for d in done)
            found = poll(lambda: settled(env), timeout=180, interval=1, what="the case's captures")
            by_path = {c["url"].rsplit("/", 1)[1]: c for c in found}
            noted = run_json(
                "case", "note", by_path["a"]["capture_id"],
                "The man at the left is the one in the clip.", env=env,
            )  # fmt: skip
            site.delete("/post/a")  # the poster deletes the post
            gone = run_json("recheck", site.url("/post/a"), env=env)
            assert gone["state"] == "gone", gone
            shown = poll(lambda: noted_case(env), timeout=60, what="the note and the recheck")
            run_json("ledger", "head", env=env)  # everything so far in a signed head
            yield {
                "env": env,
                "site": site,
                "root": root,
                "worker": worker,
                "by_path": by_path,
                "note": noted,
                "shown": shown,
                "excel": excel,
                "store": store_of(env),
            }
        finally:
            worker.stop()


def test_the_case_lists_its_captures_with_outcomes_notes_and_liveness(case):
    shown = case["shown"]  # `case show` once the note was in: all of it is there
    assert shown["case"]["title"] == "Protests in Kazan"
    assert shown["case"]["members"] == ["alice", "bob"]
    by_path = {c["url"].rsplit("/", 1)[1]: c for c in shown["captures"]}
    assert {p: (c["status"], c["outcome"]) for p, c in by_path.items()} == {
        "a": ("stored", "ok"),
        "clip": ("stored", "ok"),
        "gone-already": ("failed", "deleted"),
    }
    a = by_path["a"]
    assert a["gone_since"] and a["liveness"]["state"] == "gone"
    assert a["tags"] == ["kazan", "protest"] and a["note"] == "first video"
    [note] = a["notes"]
    assert note["author"] == "alice" and note["text"].startswith("The man at the left")
    assert by_path["clip"]["mode"] == "browser" and by_path["clip"]["screenshot_key"]
    # the capture itself is as it was: its manifest still has the digest the ledger recorded
    store = case["store"]
    [entry] = [e for e in capture_entries(store, a["capture_id"]) if e.event.event == "capture"]
    [annotation] = [
        e for e in capture_entries(store, a["capture_id"]) if e.event.event == "annotation"
    ]
    manifest_key = next(o.key for o in entry.event.objects if o.key.startswith("manifests/"))
    [about] = annotation.event.objects
    assert about.key == manifest_key
    assert about.sha256 == hashlib.sha256(store.get_bytes(manifest_key)).hexdigest()

    listed = run_json("case", "list", env=case["env"])
    [mine] = [c for c in listed if c["id"] == CASE]
    assert mine["captures"] == {"stored": 2, "failed": 1, "pending": 0}

    # one filter on what a real recheck found, with the sheet's tags; every filter's
    # rule is in tests/unit/test_case_items.py
    gone = run_json("captures", "--case", CASE, "--liveness", "gone", "--tag", "kazan",
                    env=case["env"])  # fmt: skip
    assert [c["capture_id"] for c in gone] == [a["capture_id"]]


def test_csv_out_gives_each_row_its_result_beside_the_input(case):
    env = case["env"]
    done = cli("captures", "--case", CASE, "--csv", env=env)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    by_path = {r["url"].rsplit("/", 1)[1]: r for r in rows}
    a, clip, dead = by_path["a"], by_path["clip"], by_path["gone-already"]
    stored = case["by_path"]
    assert (a["status"], a["capture_id"], a["sha256"]) == (
        "stored",
        stored["a"]["capture_id"],
        stored["a"]["sha256"],
    )
    assert a["gone_since"] and a["replay_url"].endswith("/" + a["url"])
    assert (a["tags"], a["note"], a["case"], a["mode"]) == (
        "kazan, protest",
        "first video",
        CASE,
        "static",
    )
    assert clip["status"] == "stored" and clip["gone_since"] == "" and clip["mode"] == "browser"
    assert (dead["status"], dead["outcome"], dead["reason"]) == ("failed", "deleted", "http_404")
    assert dead["sha256"] == stored["gone-already"]["sha256"]  # the 404 page is kept as evidence

    # the investigators' own sheet (UTF-16, tabs, a column of theirs) comes back whole
    done = cli("captures", "--case", CASE, "--csv", "--input", str(case["excel"]), env=env)
    assert done.returncode == 0, done.stderr
    merged = list(csv.reader(io.StringIO(done.stdout)))
    assert merged[0][:6] == ["url", "tags", "note", "case", "mode", "tip from"]
    assert merged[0][6:8] == ["status", "outcome"]
    assert [r[5] for r in merged[1:]] == ["source 1", "source 2"]
    assert [r[6] for r in merged[1:]] == ["stored", "stored"]


def test_a_sheet_with_a_bad_row_submits_nothing_and_names_the_row(case, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        sheet(
            [
                ("url", "mode", "case"),
                (case["site"].url("/post/new-1"), "", CASE),
                ("javascript:alert(1)", "", CASE),
                (case["site"].url("/post/new-2"), "fast", CASE),
            ]
        )
    )
    done = cli("submit", "--csv", str(bad), env=case["env"])
    assert done.returncode == 2
    assert f"{bad} row 3" in done.stderr and f"{bad} row 4" in done.stderr
    assert "nothing was submitted" in done.stderr
    assert not [d for d in _sheet_submissions(case["env"], "csv") if "/post/new-" in d["url"]]
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("url,note\nhttps://example.org/a,café\n".encode("latin-1"))
    done = cli("submit", "--csv", str(latin1), env=case["env"])
    assert done.returncode == 2 and "CSV UTF-8" in done.stderr


def _strings(doc, pattern) -> set[str]:
    return set(pattern.findall(json.dumps(doc)))


@pytest.fixture(scope="module")
def report(case):
    out = case["root"] / "kazan.pdf"
    made = run_json("report", "--case", CASE, "-o", str(out), env=case["env"])
    ARTIFACTS.mkdir(exist_ok=True)
    first = ARTIFACTS / "case-report-page1"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(out), str(first)],
        check=True,
        timeout=120,
    )
    return {"file": out, "made": made}


def test_the_court_pack_holds_every_digest_and_time_of_the_manifests(case, report):
    out, made = report["file"], report["made"]
    assert made["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert sorted(made["captures"]) == sorted(c["capture_id"] for c in case["by_path"].values())
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(out), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    store = case["store"]
    for capture in case["by_path"].values():
        manifest = json.loads(store.get_bytes(_manifest_key(store, capture["capture_id"])))
        digests, times = _strings(manifest, HEX64), _strings(manifest, ISO)
        assert digests and times
        assert sorted(d for d in digests if d not in text) == [], capture["url"]
        assert sorted(t for t in times if t not in text) == [], capture["url"]
        for media in capture["media"]:
            assert media["sha256"] in text  # the clip's original
    assert "CLAIMS" in text and AUTHOR in text and "2026-09-21T10:00:00" in text
    assert "The man at the left is the one in the clip." in text
    assert "Berkeley Protocol para 155" in text and "Berkeley Protocol para 167" in text
    assert "Session" in text and "without logging in" in text
    assert f"warcflow verify {case['by_path']['a']['capture_id']}.wacz" in text
    assert "first seen gone" in text and "Every check holds" in text
    assert "time-stamp local" in text  # the TSA's time, with its source
    assert "http_404" in text  # the failed capture says why


def _manifest_key(store, capture_id: str) -> str:
    entry = next(e for e in capture_entries(store, capture_id) if e.event.event == "capture")
    return next(o.key for o in entry.event.objects if o.key.startswith("manifests/"))


def test_the_court_pack_pages_have_ink_and_its_images(case, report, tmp_path):
    from PIL import Image

    out = report["file"]
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(out), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) == report["made"]["pages"] > 3
    for page in pages:
        image = Image.open(page).convert("L")
        w, h = image.size
        body = image.crop((0, int(h * 0.09), w, int(h * 0.91)))  # without header and footer
        assert body.getextrema()[0] < 128, f"{page.name} has nothing in its body"
    listed = subprocess.run(
        ["pdfimages", "-list", str(out)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    sizes = Counter((int(r.split()[3]), int(r.split()[4])) for r in listed)
    assert sizes[(320, 240)] == 4, sizes  # the clip's four frames, at the source's size
    shot = case["by_path"]["clip"]
    assert any(w == 1280 for w, _ in sizes), sizes  # the screenshot, at Chromium's width
    assert shot["screenshot_key"]


def test_the_court_packs_digest_is_in_the_ledger(case, report):
    store, sha = case["store"], report["made"]["sha256"]

    def recorded():
        return all(
            any(
                e.event.event == "export"
                and e.event.detail.get("kind") == "report"
                and any(o.sha256 == sha for o in e.event.objects)
                for e in capture_entries(store, c["capture_id"])
            )
            for c in case["by_path"].values()
        )

    poll(recorded, timeout=60, what="the report's export entries")


@pytest.fixture(scope="module")
def packages(case):
    root, env = case["root"], case["env"]
    trust = root / "trust.json"  # the archive's published keys (docs/formats.md, Trust file)
    trust.write_text(json.dumps(run_json("ledger", "key", env=env)))
    return {
        "trust": trust,
        "case": run_json("export", "--case", CASE, "-o", str(root / "case.wacz"), env=env),
        "only": run_json(
            "export",
            "--only",
            case["by_path"]["clip"]["capture_id"],
            "-o",
            str(root / "clip.wacz"),
            env=env,
        ),
    }


def test_the_case_wacz_replays_in_replaywebpage_and_verifies(case, packages, tmp_path):
    exported = packages["case"]
    stored = {c["capture_id"] for c in case["by_path"].values() if c["status"] == "stored"}
    assert set(exported["captures"]) == stored  # the failed one has nothing to replay
    wacz = Path(exported["file"])
    clip = case["by_path"]["clip"]
    with Player(tmp_path / "player") as player, chromium() as browser:
        replay = player.open(
            browser,
            player.add(wacz),
            clip["final_url"] or clip["url"],
            timestamp14(clip["fetched_at"]),
            CLIP_TEXT,
        )
        assert replay.signature_matched is True, replay.verification
        assert replay.info["title"] == "Case kazan-2026: Protests in Kazan"
        assert {p["id"] for p in replay.info["pages"]} == stored
        video = replay.playing(seconds=1.0)
        assert video["error"] is None and video["videoWidth"] == testmedia.CLIP["width"]
        assert replay.foreign == []
    offline = {**case["env"], "WARCFLOW_S3_ENDPOINT": "http://127.0.0.1:9"}
    checked = run_json("verify", str(wacz), "--trust", str(packages["trust"]), env=offline)
    assert checked["ok"], [c for c in checked["checks"] if not c["ok"]]
    assert checked["trust"] == "pinned"


def test_export_only_holds_that_capture_and_nothing_else_of_the_case(case, packages):
    only = packages["only"]
    clip = case["by_path"]["clip"]
    assert only["captures"] == [clip["capture_id"]]
    others = [c["capture_id"] for c in case["by_path"].values() if c is not clip]
    with zipfile.ZipFile(only["file"]) as zf:
        names = zf.namelist()
        custody = json.loads(zf.read("warcflow/custody.json"))
        pages = zf.read("pages/pages.jsonl").decode().splitlines()[1:]
    assert [c["capture_id"] for c in custody["captures"]] == [clip["capture_id"]]
    assert [json.loads(p)["id"] for p in pages] == [clip["capture_id"]]
    assert {e["work_id"] for e in custody["entries"]} == {
        clip["capture_id"],
        clip["media"][0]["media_id"],
    }
    assert sorted(n for n in names if n.startswith("archive/")) == sorted(
        [f"archive/{clip['capture_id']}.warc.gz", f"archive/{clip['media'][0]['media_id']}.warc.gz"]
    )
    assert not [n for n in names if any(o in n for o in others)]
    checked = run_json("verify", only["file"], "--trust", str(packages["trust"]), env=case["env"])
    assert checked["ok"] and checked["trust"] == "pinned"


def _sheet_submissions(env, source) -> list[dict]:
    prefix = env["WARCFLOW_TOPIC_PREFIX"]
    docs = [json.loads(m.value) for m in read_topic(kafka_of(env, "operator"), f"{prefix}.ingest")]
    return [d for d in docs if d.get("source") == source]


def test_the_sheet_watch_submits_each_new_row_once_across_a_restart(case):
    env, site, worker = case["env"], case["site"], case["worker"]
    for n in range(1, 6):
        site.routes[f"/sheet/{n}"] = Route(testmedia.post(f"sheet post {n}", ""))

    def publish(rows):
        site.routes["/pub.csv"] = Route(sheet(rows).encode(), content_type="text/csv")

    header = ("url", "tags", "note", "case", "mode")
    row = {n: (site.url(f"/sheet/{n}"), "from-sheet", f"row {n}", "sheet-case", "static")
           for n in range(1, 6)}  # fmt: skip
    publish([header, row[1], row[2], ("not a url", "", "", "", "")])
    added = run_json("watch", "add", "sheet", site.url("/pub.csv"), "--every", "1", env=env)
    source = f"watch:{added['id']}"

    def urls(wanted: set[str]):
        def found():
            docs = _sheet_submissions(env, source)
            return docs if wanted <= {d["url"] for d in docs} else None

        return poll(found, timeout=60, interval=0.5, what=f"the sheet watch to submit {wanted}")

    def polled(more=2):
        start = site.count("/pub.csv")
        poll(lambda: site.count("/pub.csv") >= start + more, timeout=60, what="more polls")

    urls({row[1][0], row[2][0]})
    # an edited row (its note, its tags), a row moved, a new one
    publish([header, row[3], (row[2][0], "edited", "changed note", "sheet-case", ""), row[1]])
    urls({row[3][0]})
    polled()
    worker.stop()
    publish([header, row[1], row[2], row[3], row[4], row[5]])  # two rows added meanwhile
    worker.start()
    urls({row[4][0], row[5][0]})
    polled()
    docs = _sheet_submissions(env, source)
    counted = Counter(d["url"] for d in docs)
    assert counted == {row[n][0]: 1 for n in range(1, 6)}  # each exactly once
    first = next(d for d in docs if d["url"] == row[1][0])
    assert (first["tags"], first["note"], first["case_id"], first["mode"]) == (
        ["from-sheet"],
        "row 1",
        "sheet-case",
        "static",
    )
    assert "left out" in worker.log() and "not a url" in worker.log()


def test_a_report_of_one_failed_capture_says_why_and_an_unknown_case_is_named(case):
    # (a request naming nothing is refused before anything: tests/unit/test_report_pdf.py)
    env, dead = case["env"], case["by_path"]["gone-already"]
    out = case["root"] / "dead.pdf"
    made = run_json("report", dead["capture_id"], "-o", str(out), "--frames", "0", env=env)
    assert made["captures"] == [dead["capture_id"]] and made["pages"] >= 2
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "http_404" in text and "failed" in text and dead["sha256"] in text
    missing = cli("report", "--case", "no-such-case", "-o", str(out), env=env)
    assert missing.returncode == 4 and "no capture of case no-such-case" in missing.stderr
