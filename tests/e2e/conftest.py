"""What the shipping tests share: one installation outside the repository, and fresh
PostgreSQL databases.

The docs-that-run test and the container-recipe test install the product the same way, from
the lock, into the same virtualenv (the path the guides call /opt/pairing), and pip keeps
its usual cache: whichever runs first installs, the other finds everything in place.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import POSTGRES_ADMIN_URL, unavailable

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Installation:
    root: Path  # a folder of the session's own, outside the repository

    @property
    def venv(self) -> Path:
        """Where the guides' /opt/pairing is: created by the first test that installs."""
        return self.root / "pairing"

    def environment(self, **variables: str) -> dict[str, str]:
        """The machine's environment without any setting of ours or the test run's virtualenv,
        the installation's bin first on PATH, and ``variables``."""
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("OIDC_PROVIDER_", "PROMETHEUS_", "PYTEST_", "FLASK_"))
            and name not in ("DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH", "PORT")
        }
        inherited["PATH"] = os.pathsep.join(
            [str(self.venv / "bin")]
            + [entry for entry in os.environ["PATH"].split(os.pathsep) if not entry.startswith(str(ROOT))]
        )
        return {**inherited, **variables}


@pytest.fixture(scope="session")
def installation(tmp_path_factory) -> Installation:
    return Installation(tmp_path_factory.mktemp("shipped"))


@pytest.fixture
def fresh_database() -> Iterator[tuple[str, str]]:
    """A new, empty PostgreSQL database: its name and its SQLAlchemy URL."""
    name = f"oidc_ship_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name, POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def checkout_copy(destination: Path) -> Path:
    """The repository's files as a fresh clone has them (and those not yet committed), so
    that a build writes nothing into the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    return destination
