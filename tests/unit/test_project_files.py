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
    start = (ROOT / "deploy" / "kafka" / "start.sh").read_text()
    assert "./deploy/kafka/start.sh:/warcflow/start.sh:ro" in services["kafka"]["volumes"]
    for line in (
        "process.roles=broker,controller",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512",
        "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        "super.users=User:admin;User:controller",
    ):
        assert f"\n{line}\n" in start, line
    assert "PLAINTEXT://" not in start.replace("SASL_PLAINTEXT://", "")
    assert "ports" not in services["kafka"]  # never published
    assert services["minio"]["image"].startswith("minio/minio")
    assert services["worker"]["command"] == ["worker"]
    assert services["init"]["command"] == ["provision"]


def secrets_in(service: dict) -> set[str]:
    """The ${VARIABLE} names a service's environment takes from .env."""
    import re

    values = " ".join(str(v) for v in (service.get("environment") or {}).values())
    return set(re.findall(r"\$\{([A-Z0-9_]+)", values))


def test_each_compose_service_holds_only_its_own_roles_secrets():
    services = compose()["services"]
    own = {
        # the worker opens every role's sealed messages, so it holds their MAC keys
        "worker": (
            {"KAFKA_WORKER_PASSWORD", "S3_WORKER_SECRET", "MAC_WORKER_KEY"}
            | {"MAC_OPERATOR_KEY", "MAC_VIEWER_KEY", "MAC_PREVIOUS_KEYS"},
            "worker",
        ),
        "viewer": (
            {"KAFKA_VIEWER_PASSWORD", "S3_VIEWER_SECRET", "MAC_VIEWER_KEY"},
            "viewer",
        ),
        "cli": ({"KAFKA_OPERATOR_PASSWORD", "S3_OPERATOR_SECRET", "MAC_OPERATOR_KEY"}, "operator"),
        "init": ({"KAFKA_ADMIN_PASSWORD", "S3_ROOT_PASSWORD"}, "admin"),
    }
    for name, (secrets, user) in own.items():
        env = services[name]["environment"]
        assert (
            secrets_in(services[name])
            - {"WARCFLOW_VIEWER_URL", "WARCFLOW_REPLAY_URL", "WARCFLOW_TSA"}
            == secrets
        )
        assert env["WARCFLOW_KAFKA_USER"] == user and env["WARCFLOW_S3_ACCESS_KEY"] == user
    assert secrets_in(services["minio"]) == {"S3_ROOT_PASSWORD"}
    # the root and the Kafka admin go nowhere else
    for name, service in services.items():
        if name not in ("minio", "minio-init", "init"):
            assert "S3_ROOT_PASSWORD" not in secrets_in(service), name
        if name not in ("kafka", "init"):
            assert "KAFKA_ADMIN_PASSWORD" not in secrets_in(service), name
    assert compose()["x-warcflow-env"]["WARCFLOW_S3_LOCK_MODE"] == "compliance"
    # the TSAs vouch for the ledger's time: production names them, no `local` default
    assert compose()["x-warcflow-env"]["WARCFLOW_TSA"].startswith("${WARCFLOW_TSA:?")


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
    services = compose()["services"]
    worker = services["worker"]["environment"]
    assert worker["WARCFLOW_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert worker["WARCFLOW_S3_ENDPOINT"] == "http://minio:9000"
    assert services["kafka"]["environment"]["KAFKA_ADVERTISED"] == "kafka:9092"
    for agent in ("worker", "viewer", "cli"):
        assert services[agent]["depends_on"] == {
            "init": {"condition": "service_completed_successfully"}
        }


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


def test_make_test_runs_two_processes_then_the_tests_that_need_the_machine_alone():
    """README and decision 0020: the files on two processes, then the `alone` tests
    on one; TEST_PROCESSES=0 runs everything on one process."""
    import re
    import subprocess

    def dry(*extra: str) -> str:
        return subprocess.run(
            ["make", "-n", "-o", "install", "-o", "check", "-o", "test-tools", "test", *extra],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    default = dry()
    first, second = re.findall(r"^.*-m pytest .*$", default, re.M)
    assert '-n 2 --dist loadfile -m "not alone and not soak"' in first, default
    assert "-m alone" in second and "-n " not in second, default
    one = dry("TEST_PROCESSES=0")
    assert "-n 0 " in one  # xdist off: one process for all
    assert '"pytest-xdist' in (ROOT / "pyproject.toml").read_text()
    soak = subprocess.run(
        ["make", "-n", "-o", "install", "-o", "test-tools", "soak"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "-m pytest -m soak" in soak and "-m tests.support.soak" in soak
    marked = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if re.search(r"^@pytest\.mark\.alone", path.read_text(), re.M)
    ]
    assert sorted(marked) == [
        "tests/integration/test_faults.py",
        "tests/integration/test_host_holds.py",
        "tests/integration/test_services.py",
    ]


def test_the_cli_called_in_a_process_leaves_its_signal_dispositions_alone(tmp_path):
    """main() once restored SIGPIPE's default in whatever process called it; a
    test process then died on its next write to a closed socket (an xdist worker
    was 'not properly terminated'). Only the program, run(), may."""
    import signal

    from warcflow.cli import main

    before = signal.getsignal(signal.SIGPIPE)
    assert main(["config", "--home", str(tmp_path)]) == 0
    assert signal.getsignal(signal.SIGPIPE) == before


def test_the_program_ends_quietly_when_its_reader_goes_away():
    """`warcflow … | head`: the program (run) restores SIGPIPE's default, so a
    closed pipe ends it as it ends other commands, without a traceback."""
    import subprocess
    import sys

    code = (
        "import signal, sys\n"
        "from warcflow import cli\n"
        "cli.main = lambda: 0\n"
        "cli.run()\n"
        "print(signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL)\n"
        "sys.stdout.flush()\n"
        "for _ in range(100000): print('x' * 100)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=60, text=True
    )
    assert done.stdout.startswith("True")
    writer = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    assert writer.stdout is not None and writer.stderr is not None
    writer.stdout.read(10)
    writer.stdout.close()  # the reader goes away, as `head` does
    stderr = writer.stderr.read().decode()
    assert writer.wait(60) == -13 and "Traceback" not in stderr  # ended by SIGPIPE
