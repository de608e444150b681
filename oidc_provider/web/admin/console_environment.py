"""The console's one environment at a time: an admin's choice of sandbox or production,
kept in their session, becomes the default ``environment`` filter of every list (an
explicit ``?environment=`` still wins) and is shown in every page's header, so sandbox
numbers are never read as production's."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, redirect, request, session, url_for

from oidc_provider.servicetitan.environments import ENVIRONMENTS
from oidc_provider.web.redirect_targets import local_path

bp = Blueprint("environment", __name__)

SESSION_KEY = "console_environment"
#: The navigation's choices: all environments, or one.
CHOICES = [("", "All environments")] + [(name, name.capitalize()) for name in ENVIRONMENTS]


def chosen() -> str:
    """The environment this admin looks at, or "" for all of them."""
    value = session.get(SESSION_KEY, "")
    return value if value in ENVIRONMENTS else ""


@bp.post("/environment")
def choose():
    value = request.form.get("environment", "").strip()
    if value in ENVIRONMENTS:
        session[SESSION_KEY] = value
    else:
        session.pop(SESSION_KEY, None)
    return redirect(_back(request.form.get("next", "")) or url_for("admin.home.index"))


def _back(next_path: str) -> str:
    """The page the choice was made on, without the environment and page it asked for:
    they would hide the new choice."""
    path = local_path(next_path, under="/admin")
    if not path:
        return ""
    parts = urlsplit(path)
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("environment", "page")]
    return parts.path + (f"?{urlencode(kept)}" if kept else "")
