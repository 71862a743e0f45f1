"""docker-compose.yml, docs and README agree with the code."""

from pathlib import Path

import yaml

from warcflow.cli import build_parser
from warcflow.settings import OPTIONS, options_markdown

ROOT = Path(__file__).resolve().parents[2]
SETTING_NAMES = {option.env for option in OPTIONS}


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_roles():
    services = compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:3.9")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["minio"]["image"].startswith("minio/minio")
    assert services["worker"]["command"] == ["worker"]


def test_compose_uses_only_setting_names_the_code_defines():
    for name, service in compose()["services"].items():
        env = service.get("environment") or {}
        used = {key for key in env if key.startswith("WARCFLOW_")}
        assert used <= SETTING_NAMES, (name, used - SETTING_NAMES)
        if service.get("image", "").startswith("warcflow"):
            assert {
                "WARCFLOW_KAFKA_BOOTSTRAP",
                "WARCFLOW_S3_ENDPOINT",
                "WARCFLOW_S3_BUCKET",
                "WARCFLOW_HOME",
            } <= used, name


def test_compose_points_the_agents_at_its_own_services():
    worker = compose()["services"]["worker"]["environment"]
    assert worker["WARCFLOW_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert worker["WARCFLOW_S3_ENDPOINT"] == "http://minio:9000"


def test_configuration_doc_lists_every_setting():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert options_markdown() in doc, "regenerate the table: python -m warcflow.settings"


def test_cli_doc_covers_every_command():
    doc = (ROOT / "docs" / "cli.md").read_text()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in commands:
        assert f"`warcflow {name}" in doc, name


def test_readme_shows_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
