"""Reading the console's form posts: the few shapes its forms use, nothing more."""

from __future__ import annotations

from flask import abort, request
from werkzeug.datastructures import FileStorage

from oidc_provider.core.problems import Problem, ProblemError


def text(name: str) -> str:
    return request.form.get(name, "").strip()


def checked(name: str) -> bool:
    """An HTML checkbox: present when ticked, absent otherwise."""
    return request.form.get(name) is not None


def seconds(name: str, where: str) -> int:
    """A whole number of seconds; empty is 0. A refusal names ``where``, the rule's field."""
    value = text(name) or "0"
    if not value.lstrip("-").isdigit():
        raise ProblemError([Problem(where, "give a whole number of seconds")])
    return int(value)


def lines(name: str) -> list[str]:
    """A textarea with one value per line; blank lines are ignored."""
    return [line.strip() for line in request.form.get(name, "").splitlines() if line.strip()]


def upload(name: str) -> tuple[str, bytes] | None:
    """The uploaded file's name and content, or None when no file was chosen."""
    file: FileStorage | None = request.files.get(name)
    if file is None or not file.filename:
        return None
    return file.filename, file.read()


def upload_text(name: str) -> tuple[str, str | None] | None:
    """An uploaded text file decoded as UTF-8 (a byte order mark is allowed); its text is
    None when it is not UTF-8."""
    uploaded = upload(name)
    if uploaded is None:
        return None
    filename, data = uploaded
    try:
        return filename, data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return filename, None


def found(value):
    """``value``, or a 404 page when the row does not exist."""
    if value is None:
        abort(404)
    return value
