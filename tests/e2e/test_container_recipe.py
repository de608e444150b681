"""The container recipe, read by real parsers and run as written, without a container engine.

Dockerfile: every COPY source exists, the image runs as a user of its own in that user's
home; its build stage's commands run here as written (the lock installed into a fresh
virtualenv outside the repository, the wheel built and installed), and the wheel carries
neither the sandbox nor its JOSE library. compose.yaml: every variable it sets for the
provider is a documented setting; its migration, web server (with the image's HEALTHCHECK),
outbox worker and daily purge run as written against a fresh PostgreSQL database.

What stands in for the engine: the image's /opt/pairing is the shared installation's
virtualenv, its WORKDIRs are folders of the test's own, and since every service here shares
the loopback interface, the web server gets a free port through PORT, as ``-e PORT=`` would
give it. The image itself is never built here.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import requests
import yaml
from dockerfile_parse import DockerfileParser

from oidc_provider.core.release import VERSION
from tests.conftest import POSTGRES_ADMIN_URL
from tests.e2e.conftest import ROOT, checkout_copy
from tests.gunicorn_server import free_port

DOCKERFILE = DockerfileParser(str(ROOT / "Dockerfile"))
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
IMAGE_VENV = "/opt/pairing"
PROVIDER_SERVICES = [name for name, service in COMPOSE["services"].items() if "build" in service]
VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def stages() -> list[list[dict]]:
    """The Dockerfile's instructions, one list per FROM."""
    found: list[list[dict]] = []
    for instruction in DOCKERFILE.structure:
        if instruction["instruction"] == "FROM":
            found.append([])
        if found and instruction["instruction"] != "COMMENT":
            found[-1].append(instruction)
    return found


def only(stage: list[dict], name: str) -> dict:
    matching = [instruction for instruction in stage if instruction["instruction"] == name]
    assert len(matching) == 1, f"one {name} expected in the stage"
    return matching[0]


def exec_form(value: str) -> list[str]:
    words = json.loads(value)
    assert isinstance(words, list), f"exec form expected: {value}"
    return words


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}."""

    def one(match: re.Match) -> str:
        name, operator, argument = match.groups()
        if variables.get(name):
            return variables[name]
        if operator == "?":
            raise AssertionError(f"{name} must be set: {argument}")
        return argument or ""

    return VARIABLE.sub(one, value)


# -- read ----------------------------------------------------------------------------------------


def test_the_image_is_built_in_stages_on_slim_python():
    build, final = stages()
    assert DOCKERFILE.is_multistage
    assert DOCKERFILE.baseimage.startswith("python:3.11-slim")
    assert build[0]["value"] == "${PYTHON_IMAGE} AS build"
    assert final[0]["value"] == "${PYTHON_IMAGE}"


def test_every_copy_source_exists():
    copies = [
        instruction["value"] for stage in stages() for instruction in stage if instruction["instruction"] == "COPY"
    ]
    assert copies
    for value in copies:
        words = shlex.split(value)
        if words[0].startswith("--from="):
            continue
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"COPY {value}: {source} does not exist"


def test_the_image_runs_as_a_user_of_its_own_in_its_home():
    final = stages()[-1]
    names = [instruction["instruction"] for instruction in final]
    useradd = shlex.split(next(i["value"] for i in final if i["instruction"] == "RUN" and "useradd" in i["value"]))
    user = useradd[-1]
    home = useradd[useradd.index("--home-dir") + 1]

    assert only(final, "USER")["value"] == user != "root"
    assert "--create-home" in useradd
    assert only(final, "WORKDIR")["value"] == home
    # Created before it is used; nothing after USER needs root.
    assert names.index("USER") > names.index("RUN")
    assert names.index("WORKDIR") > names.index("USER")
    assert "RUN" not in names[names.index("USER") :]


def test_the_entry_point_is_the_production_server_and_the_health_check_asks_healthz():
    final = stages()[-1]
    assert exec_form(only(final, "ENTRYPOINT")["value"]) == ["pairing-server"]
    healthcheck = only(final, "HEALTHCHECK")["value"]
    assert "/healthz" in healthcheck and "--timeout=" in healthcheck


def test_every_variable_compose_sets_is_a_documented_setting():
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", CONFIGURATION, re.MULTILINE))
    for name in PROVIDER_SERVICES:
        for variable in COMPOSE["services"][name]["environment"]:
            assert variable in documented, f"compose.yaml sets {variable} for {name}; docs/configuration.md lacks it"
    for variable in DOCKERFILE.envs:
        assert variable in documented or variable in ("PATH", "PYTHONUNBUFFERED"), f"Dockerfile sets {variable}"


def test_compose_runs_the_web_server_the_worker_the_purge_postgres_and_redis():
    services = COMPOSE["services"]
    assert {"migrate", "web", "outbox", "purge", "postgres", "redis"} <= set(services)
    assert services["web"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    for name in ("migrate", "outbox", "purge"):
        # They serve no HTTP: the image's health check does not apply to them.
        assert services[name]["healthcheck"] == {"disable": True}


# -- run -----------------------------------------------------------------------------------------


def build_stage(installation, work: Path) -> Path:
    """The build stage's instructions, as written, with /opt/pairing being the installation's
    virtualenv; returns the wheel folder."""
    checkout = checkout_copy(work / "checkout")
    folders = {"/wheels": work / "wheels", IMAGE_VENV: installation.venv}
    cwd = None
    for instruction in stages()[0][1:]:
        kind, value = instruction["instruction"], instruction["value"]
        if kind == "WORKDIR":
            cwd = work / "src"
            cwd.mkdir()
        elif kind == "COPY":
            *sources, destination = shlex.split(value)
            for source in sources:
                target = cwd / destination / (Path(source).name if destination.endswith("/") else "")
                target.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if (checkout / source).is_dir() else shutil.copy2)(checkout / source, target)
        elif kind == "RUN":
            command = re.sub(r"^(--mount=\S+\s+)+", "", value)
            for image_path, here in folders.items():
                command = command.replace(image_path, str(here))
            run = subprocess.run(
                ["sh", "-c", command], cwd=cwd, env=installation.environment(), capture_output=True, text=True
            )
            assert run.returncode == 0, f"RUN {value}\n{run.stdout}\n{run.stderr}"
        else:
            raise AssertionError(f"the build stage's {kind} is not run by this test: teach it")
    return folders["/wheels"]


def service_command(name: str) -> list[str]:
    service = COMPOSE["services"][name]
    entrypoint = service.get("entrypoint") or exec_form(only(stages()[-1], "ENTRYPOINT")["value"])
    return list(entrypoint) + list(service.get("command", []))


def service_environment(installation, name: str, variables: dict[str, str], **overrides: str) -> dict[str, str]:
    image = {key: value.replace(IMAGE_VENV, str(installation.venv)) for key, value in DOCKERFILE.envs.items()}
    image["PATH"] = installation.environment()["PATH"]
    compose = {
        key: interpolate(str(value), variables) for key, value in COMPOSE["services"][name]["environment"].items()
    }
    return installation.environment(**{**image, **compose, **overrides})


class Service:
    def __init__(self, command, env, cwd: Path, log: Path):
        self.log = log
        self.process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, predicate, what: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return
            assert self.process.poll() is None, f"exited while waiting for {what}:\n{self.output()}"
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {seconds} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=10).status_code == 200
    except requests.RequestException:  # not listening yet, or busy starting
        return False


def test_the_recipe_builds_the_wheel_from_the_lock_and_runs_every_service(installation, fresh_database, tmp_path):
    wheels = build_stage(installation, tmp_path)

    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert not [name for name in names if name.startswith("st_sandbox")]
    assert "Requires-Dist: jwcrypto" not in metadata
    assert f"Name: servicetitan-pairing-server\nVersion: {VERSION}\n" in metadata
    assert "oidc_provider/migrations/env.py" in names and "oidc_provider/templates/error.html" in names

    database, _ = fresh_database
    postgres = urlsplit(POSTGRES_ADMIN_URL)
    variables = {
        "POSTGRES_USER": postgres.username or "postgres",
        "POSTGRES_PASSWORD": "unused-with-trust-authentication",
        "POSTGRES_HOST": f"{postgres.hostname}:{postgres.port or 5432}",
        "POSTGRES_DB": database,
        "OIDC_PROVIDER_ISSUER": "https://auth.partner.example",
        "OIDC_PROVIDER_SECRET_KEY": "a-secret-key-of-the-test-" + "s" * 16,
        "OIDC_PROVIDER_ENCRYPTION_KEYS": json.dumps(["ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="]),
        "OIDC_PROVIDER_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
    }
    home = tmp_path / "home"  # the image's WORKDIR
    home.mkdir()

    migrate = subprocess.run(
        service_command("migrate"),
        env=service_environment(installation, "migrate", variables),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr

    port = free_port()
    web_environment = service_environment(installation, "web", variables, PORT=str(port))
    started = []
    try:
        web = Service(service_command("web"), web_environment, home, tmp_path / "web.log")
        started.append(web)
        outbox = Service(
            service_command("outbox"),
            service_environment(installation, "outbox", variables),
            home,
            tmp_path / "outbox.log",
        )
        started.append(outbox)
        purge = Service(
            service_command("purge"),
            service_environment(installation, "purge", variables),
            home,
            tmp_path / "purge.log",
        )
        started.append(purge)

        web.wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), "answer on /healthz")
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json() == {
            "status": "ok",
            "version": VERSION,
        }
        # A new database becomes ready by itself: the first readiness check makes the keys.
        web.wait_for(lambda: answers(f"http://127.0.0.1:{port}/readyz"), "readiness")
        healthcheck = exec_form(only(stages()[-1], "HEALTHCHECK")["value"].split("CMD", 1)[1].strip())
        assert subprocess.run(healthcheck, env=web_environment, cwd=home, timeout=10).returncode == 0

        outbox.wait_for(lambda: "outbox worker" in outbox.output(), "worker start line")
        purge.wait_for(lambda: '"' in purge.output() and "}" in purge.output(), "purge report")
        assert isinstance(json.loads(purge.output()[purge.output().index("{") :]), dict)
        for service in started:
            assert service.process.poll() is None, service.output()
    finally:
        for service in started:
            service.stop()

    # Stopped, the server fails the image's health check.
    assert subprocess.run(healthcheck, env=web_environment, cwd=home, capture_output=True, timeout=10).returncode != 0
