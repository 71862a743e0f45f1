"""Small viewer items of the security review (F12): the submit API reads no body
before the account check, the interactive docs page (a CDN script on the viewer's
origin) is gone, and replayed pages cannot open connections to other hosts."""

from __future__ import annotations

from fastapi.testclient import TestClient

from viewer.accounts import Accounts
from viewer.app import SUBMIT_BODY_BYTES, create_app
from viewer.catalog import Catalog
from viewer.server import REPLAY_CSP
from viewer.settings import ViewerSettings


def client(tmp_path):
    submitted: list[str] = []

    def submit(urls, tags, note, **context):
        submitted.extend(urls)
        return [{"url": u, "request_id": "r"} for u in urls]

    settings = ViewerSettings(state_dir=tmp_path)
    accounts = Accounts(settings.accounts_path)
    global TOKEN
    _account, TOKEN = accounts.add("anna", "submitter", password=None, at="t")
    app = create_app(
        settings,
        Catalog(tmp_path / "catalog.sqlite"),
        store=None,
        submit=submit,
    )
    return TestClient(app), submitted


TOKEN = ""


def test_without_an_account_the_body_is_not_read(tmp_path):
    web, submitted = client(tmp_path)
    # before: FastAPI parsed (and validated) the body first, answering 422 here
    junk = web.post("/api/submit", json={"urls": 5, "pad": "x" * 100_000})
    assert junk.status_code == 401
    big = web.post(
        "/api/submit",
        content=b'{"urls": ["' + b"a" * (4 * SUBMIT_BODY_BYTES) + b'"]}',
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 401 and submitted == []


def test_with_an_account_the_body_is_read_bounded_and_validated(tmp_path):
    web, submitted = client(tmp_path)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    too_big = web.post(
        "/api/submit",
        content=b'{"urls": ["' + b"a" * (SUBMIT_BODY_BYTES + 1) + b'"]}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert too_big.status_code == 413
    wrong = web.post("/api/submit", json={"urls": 5}, headers=auth)
    assert wrong.status_code == 422 and wrong.json()["errors"][0].startswith("urls")
    as_form = web.post(
        "/api/submit", content=b"urls=x", headers={**auth, "Content-Type": "text/plain"}
    )
    assert as_form.status_code == 415  # a cross-site form cannot send JSON without a preflight
    ok = web.post(
        "/api/submit", json={"urls": ["https://a.example/1"], "tags": ["t"]}, headers=auth
    )
    assert ok.status_code == 202 and submitted == ["https://a.example/1"]


def test_no_page_of_the_viewer_loads_a_script_from_elsewhere(tmp_path):
    web, _ = client(tmp_path)
    assert web.get("/api/docs").status_code == 404
    spec = web.get("/openapi.json")
    assert (
        spec.status_code == 200 and "script-src 'self'" in spec.headers["content-security-policy"]
    )
    body = spec.json()["paths"]["/api/submit"]["post"]["requestBody"]
    assert "urls" in body["content"]["application/json"]["schema"]["properties"]


def test_replayed_pages_may_connect_to_the_replay_origin_only():
    directives = {
        part.split()[0]: part.split()[1:] for part in REPLAY_CSP.split(";") if part.strip()
    }
    assert directives["connect-src"] == ["'self'", "data:", "blob:"]
    assert not {"ws:", "wss:", "*", "http:", "https:"} & set(directives["default-src"])
