"""flask version: the release, the same one the wheel's metadata and /healthz carry."""

from __future__ import annotations

import json
from importlib.metadata import version

from oidc_provider import __version__
from oidc_provider.core.release import VERSION


def test_version_prints_the_release(runner):
    result = runner.invoke(args=["version"])

    assert result.exit_code == 0
    assert result.output == f"{VERSION}\n"


def test_version_as_json(runner):
    result = runner.invoke(args=["version", "--json"])

    assert json.loads(result.output) == {"version": VERSION}


def test_the_distribution_and_the_package_carry_that_version():
    assert version("servicetitan-pairing-server") == VERSION
    assert __version__ == VERSION
