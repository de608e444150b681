"""What the distributions declare: every distribution the code imports, and a lock that pins
each declared requirement within its range, with hashes."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROVIDER = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SANDBOX = tomllib.loads((ROOT / "st_sandbox" / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", re.MULTILINE)


def imported_distributions(*folders: str) -> set[str]:
    """The distributions whose modules the code in ``folders`` imports."""
    modules = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    modules -= set(sys.stdlib_module_names) | {"oidc_provider", "st_sandbox"}
    installed = packages_distributions()
    return {canonicalize_name(installed[module][0]) for module in modules}


def declared(requirements: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(requirement.name): requirement for requirement in map(Requirement, requirements)}


def locked(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / name).read_text()
    return {canonicalize_name(match[1]): match[2] for match in PIN.finditer(text)}


def test_the_provider_declares_every_distribution_it_imports():
    assert imported_distributions("oidc_provider", "migrations") <= set(declared(PROVIDER["dependencies"]))


def test_the_sandbox_declares_every_distribution_it_imports():
    assert imported_distributions("st_sandbox") <= set(declared(SANDBOX["dependencies"]))


def test_the_provider_does_not_depend_on_the_sandbox_or_its_jose_library():
    assert not {"jwcrypto", "servicetitan-pairing-sandbox"} & set(declared(PROVIDER["dependencies"]))


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("runtime.txt", PROVIDER["dependencies"]),
        ("test.txt", PROVIDER["dependencies"] + PROVIDER["optional-dependencies"]["test"] + SANDBOX["dependencies"]),
    ],
)
def test_the_lock_pins_every_requirement_within_its_range(lock, requirements):
    """Fails when pyproject.toml changed and ./scripts/lock was not run."""
    pins = locked(lock)
    for name, requirement in declared(requirements).items():
        assert name in pins, f"{name} is not in requirements/{lock}: run ./scripts/lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} is outside {requirement}"
        )


def test_every_pin_has_hashes_and_the_test_lock_agrees_with_the_runtime_lock():
    runtime, test = locked("runtime.txt"), locked("test.txt")
    for lock in ("runtime.txt", "test.txt"):
        text = (ROOT / "requirements" / lock).read_text()
        assert len(re.findall(r"^[A-Za-z0-9._-]+==", text, re.MULTILINE)) == len(locked(lock))
    assert {name: test[name] for name in runtime} == runtime
