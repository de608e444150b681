"""Every command the guides show either runs in a test or is marked as an example, and every
``flask`` command they name exists, with the options they give it."""

from __future__ import annotations

import re
import shlex

import click
import pytest
from flask.cli import FlaskGroup, ScriptInfo

from tests.docs_blocks import ROOT, RUN, RUN_ELSEWHERE, commands, documents, run_blocks, section, shell_blocks

FLASK = re.compile(r"flask --app oidc_provider [^`\n|]*")
TRY_IT = ["./scripts/demo", "./scripts/test"]


def code(text: str) -> list[str]:
    """Inline code spans and the lines of fenced blocks."""
    spans = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE))
    lines = [
        line
        for _, body in re.findall(r"^```([^\n]*)\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
        for line in body.splitlines()
    ]
    return spans + lines


@pytest.mark.parametrize("path", documents(), ids=lambda path: path.name)
def test_every_shell_block_runs_in_a_test_or_is_marked_as_an_example(path):
    running = [body for document, body in run_blocks(RUN + RUN_ELSEWHERE) if ROOT / document == path]
    for words, body in shell_blocks(path.read_text()):
        if body in running or "example" in words:
            continue
        # README's "Try it": ./scripts/demo runs in tests/cli/test_demo.py, ./scripts/test is CI's command.
        assert path.name == "README.md" and [c.split("#")[0].strip() for c in commands(body)] == TRY_IT, (
            f"{path.name}: a shell block that no test runs; mark it ```sh example, or make it run:\n{body}"
        )


def test_the_try_it_commands_are_what_ci_and_the_demo_test_run():
    assert "exec ./scripts/test" in (ROOT / ".ci" / "run").read_text()
    assert '"./scripts/demo"' in (ROOT / "tests" / "cli" / "test_demo.py").read_text()
    assert "./scripts/demo" in section((ROOT / "README.md").read_text(), "## Try it: two commands")


@pytest.mark.parametrize("path", documents(), ids=lambda path: path.name)
def test_every_flask_command_names_the_app(path):
    for snippet in code(path.read_text()):
        assert not re.search(r"(^|\s)flask (?!--app oidc_provider )", snippet), f"{path.name}: {snippet}"


@pytest.fixture(scope="module")
def docs_app(tmp_path_factory):
    from oidc_provider import create_app
    from tests.conftest import ENCRYPTION_KEY

    instance = tmp_path_factory.mktemp("docs-instance")
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/db", "SECRET_KEY": "k", "ENCRYPTION_KEYS": [ENCRYPTION_KEY]}
    )
    return app


@pytest.fixture
def command_line(docs_app):
    group = FlaskGroup(create_app=lambda: docs_app)
    # FlaskGroup.get_command pushes the app's context onto the click context; closing that
    # context pops it, so no later test finds this app current.
    with click.Context(group, obj=ScriptInfo(create_app=lambda: docs_app)) as context:
        yield group, context


@pytest.mark.parametrize("path", documents(), ids=lambda path: path.name)
def test_every_flask_command_and_option_exists(path, command_line):
    group, context = command_line
    for snippet in code(path.read_text()):
        for found in FLASK.findall(snippet):
            words = shlex.split(
                found.split(" #")[0].replace("[", " ").replace("]", " ").replace("|", " "), posix=False
            )[3:]
            command = group
            # A word in capitals is a placeholder (GROUP COMMAND): nothing more to check.
            while (
                isinstance(command, click.Group) and words and not words[0].startswith("-") and not words[0].isupper()
            ):
                name = words.pop(0)
                command = command.get_command(context, name)
                assert command is not None, f"{path.name}: {found}: no command {name}"
            if isinstance(command, click.Group):
                continue
            options = {option for parameter in command.params for option in parameter.opts + parameter.secondary_opts}
            for word in words:
                if word.startswith("--"):
                    assert word.split("=")[0] in options, f"{path.name}: {found}: no option {word}"
