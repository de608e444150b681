"""Asking first: every destructive action in the console goes through a page that says, in
words, what will happen, with the keyboard's focus on the safe choice.

A destructive form posts to its action as usual; without ``confirmed=yes`` the action
answers this page instead of acting. The page carries the form's fields over and adds
``confirmed=yes`` to the button that acts; "Cancel" is a plain link back, so cancelling
sends nothing and changes nothing. Works without JavaScript.
"""

from __future__ import annotations

from flask import render_template, request

CONFIRMED = "confirmed"


def confirmed() -> bool:
    return request.form.get(CONFIRMED) == "yes"


def ask(title: str, consequences: str, action: str, cancel_url: str):
    """The confirmation page for this request's form. ``title`` asks the question ("Retire
    key abc?"), ``consequences`` says what will happen, ``action`` names the button that
    does it ("Retire key")."""
    fields = [(name, value) for name, value in request.form.items(multi=True) if name not in ("csrf_token", CONFIRMED)]
    body = render_template(
        "admin/confirm.html",
        title=title,
        consequences=consequences,
        action=action,
        action_url=request.full_path.rstrip("?"),
        fields=fields,
        cancel_url=cancel_url,
    )
    return body, 200
