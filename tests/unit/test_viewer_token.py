"""Who may submit through the viewer: anyone on loopback, token holders beyond it."""

import pytest
from fastapi.testclient import TestClient

from viewer.app import create_app
from viewer.catalog import Catalog
from viewer.settings import ViewerSettings
from warcflow.settings import SettingsError, load_settings

TOKEN = "s3cret-token-for-tests-0123456789"


def client(tmp_path, token="", contexts=None):
    submitted = []

    def submit(urls, tags, note, **context):
        submitted.extend(urls)
        if contexts is not None:
            contexts.append(context)
        return [{"url": u, "request_id": "r"} for u in urls]

    app = create_app(
        ViewerSettings(state_dir=tmp_path, token=token),
        Catalog(tmp_path / "catalog.sqlite"),
        store=None,
        submit=submit,
    )
    return TestClient(app), submitted


def test_operator_case_and_purpose_reach_the_submission(tmp_path):
    contexts = []
    web, _ = client(tmp_path, contexts=contexts)
    body = {
        "urls": ["https://a.example/1"],
        "operator": "anna",
        "case_id": "KZN-17",
        "purpose": "protests",
    }
    assert web.post("/api/submit", json=body).status_code == 202
    form = web.post(
        "/submit",
        data={"urls": "https://a.example/2", "operator": " bo ", "case_id": "", "purpose": "check"},
    )
    assert form.status_code == 200 and 'name="case_id"' in web.get("/submit").text
    assert contexts == [
        {"operator": "anna", "case_id": "KZN-17", "purpose": "protests", "mode": "auto"},
        {"operator": "bo", "case_id": None, "purpose": "check", "mode": "auto"},
    ]


def test_without_a_token_setting_submitting_is_open(tmp_path):
    web, submitted = client(tmp_path)
    assert web.post("/api/submit", json={"urls": ["https://a.example/1"]}).status_code == 202
    assert submitted == ["https://a.example/1"]


def test_with_a_token_only_its_holders_submit(tmp_path):
    web, submitted = client(tmp_path, TOKEN)
    body = {"urls": ["https://a.example/1"]}
    assert web.post("/api/submit", json=body).status_code == 401
    wrong = web.post("/api/submit", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert submitted == []
    ok = web.post("/api/submit", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 202 and submitted == ["https://a.example/1"]


def test_the_form_asks_for_the_token(tmp_path):
    web, submitted = client(tmp_path, TOKEN)
    assert 'name="token"' in web.get("/submit").text
    refused = web.post("/submit", data={"urls": "https://a.example/2", "token": "nope"})
    assert refused.status_code == 401 and "wrong or missing token" in refused.text
    done = web.post("/submit", data={"urls": "https://a.example/2", "token": TOKEN})
    assert done.status_code == 200 and submitted == ["https://a.example/2"]


def test_reading_needs_no_token(tmp_path):
    web, _ = client(tmp_path, TOKEN)
    assert web.get("/api/search", params={"q": "example"}).status_code == 200


def test_listening_beyond_loopback_needs_a_token(tmp_path):
    env = {"WARCFLOW_HOME": str(tmp_path), "WARCFLOW_VIEWER_HOST": "0.0.0.0"}
    with pytest.raises(SettingsError, match="WARCFLOW_VIEWER_TOKEN"):
        load_settings(env)
    assert load_settings({**env, "WARCFLOW_VIEWER_TOKEN": TOKEN}).viewer.token == TOKEN
    assert load_settings({"WARCFLOW_HOME": str(tmp_path)}).viewer.token == ""


def test_the_viewer_command_refuses_a_wide_host_without_a_token(tmp_path):
    import subprocess
    import sys

    env = {"WARCFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "warcflow", "viewer", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "WARCFLOW_VIEWER_TOKEN" in done.stderr
