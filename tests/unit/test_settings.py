from pathlib import Path

import pytest

from warcflow.settings import OPTIONS, SettingsError, load_settings


def test_defaults_are_local_and_loopback():
    settings = load_settings({})
    assert settings.streams.bootstrap == "127.0.0.1:9092"
    assert settings.store.endpoint == "http://127.0.0.1:9000"
    assert settings.fetch.allow == ()
    assert settings.home == Path(".warcflow").absolute()


def test_environment_beats_file_beats_default(tmp_path):
    config = tmp_path / "warcflow.toml"
    config.write_text(
        'home = "/srv/wf"\n[kafka]\nbootstrap = "10.0.0.5:9092"\npartitions = 12\n'
        '[s3]\nbucket = "from-file"\n[fetch]\nallow = ["127.0.0.1:8080", "10.1.0.0/16"]\n'
    )
    settings = load_settings({"WARCFLOW_S3_BUCKET": "from-env"}, str(config))
    assert settings.streams.bootstrap == "10.0.0.5:9092"
    assert settings.streams.partitions == 12
    assert settings.store.bucket == "from-env"
    assert settings.home == Path("/srv/wf")
    assert [rule.text for rule in settings.fetch.allow] == ["127.0.0.1:8080", "10.1.0.0/16"]
    assert settings.sources["WARCFLOW_S3_BUCKET"] == "environment"
    assert settings.sources["WARCFLOW_PARTITIONS"] == f"file {config}"


def test_command_line_overrides_win():
    settings = load_settings({"WARCFLOW_HOME": "/a"}, overrides={"WARCFLOW_HOME": "/b"})
    assert settings.home == Path("/b") and settings.services.home == Path("/b")


@pytest.mark.parametrize(
    "env, words",
    [
        ({"WARCFLOW_PARTITIONS": "zero"}, "WARCFLOW_PARTITIONS"),
        ({"WARCFLOW_PARTITIONS": "0"}, "greater than 0"),
        ({"WARCFLOW_FETCH_ALLOW": "not an entry"}, "WARCFLOW_FETCH_ALLOW"),
        ({"WARCFLOW_FETCH_VERIFY_TLS": "maybe"}, "boolean"),
        ({"WARCFLOW_S3_BUCKET": "x"}, "at least 3"),
        ({"WARCFLOW_LOG_LEVEL": "loud"}, "WARCFLOW_LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_setting(env, words):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert words in str(caught.value)


def test_unknown_file_keys_are_errors_and_unknown_env_is_reported(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[kafka]\nbootstrapp = 'x:1'\n")
    with pytest.raises(SettingsError) as caught:
        load_settings({}, str(config))
    assert "kafka.bootstrapp" in str(caught.value)
    assert load_settings({"WARCFLOW_BUKET": "x"}).unknown_env == ("WARCFLOW_BUKET",)


def test_settings_are_frozen():
    settings = load_settings({})
    with pytest.raises(AttributeError):
        settings.store.bucket = "other"  # type: ignore[misc]


def test_secrets_are_masked_in_the_description():
    rows = {
        row["env"]: row for row in load_settings({"WARCFLOW_S3_SECRET_KEY": "s3cr3t"}).describe()
    }
    assert rows["WARCFLOW_S3_SECRET_KEY"]["value"] == "********"


def test_the_names_the_issue_promises_exist():
    names = {option.env for option in OPTIONS}
    assert {
        "WARCFLOW_HOME",
        "WARCFLOW_KAFKA_BOOTSTRAP",
        "WARCFLOW_S3_ENDPOINT",
        "WARCFLOW_S3_BUCKET",
        "WARCFLOW_FETCH_ALLOW",
    } <= names


def test_connection_bounds_reach_the_fetcher(tmp_path):
    from archivers.net.fetcher import Fetcher

    settings = load_settings(
        {
            "WARCFLOW_HOME": str(tmp_path),
            "WARCFLOW_FETCH_PER_HOST": "2",
            "WARCFLOW_FETCH_MAX_CONNECTIONS": "10",
            "WARCFLOW_FETCH_HOST_DELAY": "0.5",
        }
    )
    gate = Fetcher(settings.fetch).gate
    assert (gate.settings.total, gate.settings.per_host, gate.settings.host_delay) == (10, 2, 0.5)
    with pytest.raises(SettingsError, match="WARCFLOW_FETCH_HOST_DELAY"):
        load_settings({"WARCFLOW_HOME": str(tmp_path), "WARCFLOW_FETCH_HOST_DELAY": "-1"})


def test_a_canary_url_must_be_capturable(tmp_path):
    with pytest.raises(SettingsError, match="WARCFLOW_CANARY_URL"):
        load_settings({"WARCFLOW_HOME": str(tmp_path), "WARCFLOW_CANARY_URL": "ftp://x.example/"})
    settings = load_settings(
        {"WARCFLOW_HOME": str(tmp_path), "WARCFLOW_CANARY_URL": "https://v.example/clip"}
    )
    assert settings.streams.canary_url == "https://v.example/clip"
    assert settings.streams.canary_every == 3600


def test_replication_reaches_the_topics_and_the_agents(tmp_path):
    settings = load_settings({"WARCFLOW_HOME": str(tmp_path), "WARCFLOW_REPLICATION": "3"})
    assert settings.streams.replication == 3
    assert load_settings({"WARCFLOW_HOME": str(tmp_path)}).streams.replication == 1


def test_captures_record_their_tools_and_a_digest_of_the_method(tmp_path):
    from warcflow import wiring

    base = {"WARCFLOW_HOME": str(tmp_path)}
    info = wiring.agent_info(load_settings(base))
    assert info["name"] == "warcflow" and info["yt_dlp"] and info["ffmpeg"] != "?"
    same = wiring.agent_info(load_settings({**base, "WARCFLOW_VIEWER_PORT": "9999"}))
    other = wiring.agent_info(load_settings({**base, "WARCFLOW_FETCH_MAX_BYTES": "1000"}))
    assert same["settings_sha256"] == info["settings_sha256"]  # not part of the method
    assert other["settings_sha256"] != info["settings_sha256"]


def test_the_operator_defaults_to_the_setting_then_the_login_user(tmp_path, monkeypatch):
    from warcflow.commands.submit import default_operator

    named = load_settings({"WARCFLOW_HOME": str(tmp_path), "WARCFLOW_OPERATOR": "anna"})
    assert default_operator(named) == "anna"
    monkeypatch.setenv("LOGNAME", "boris-at-the-desk")  # who the system says is logged in
    unnamed = load_settings({"WARCFLOW_HOME": str(tmp_path)})
    assert default_operator(unnamed) == "boris-at-the-desk"
