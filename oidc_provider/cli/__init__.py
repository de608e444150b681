"""Flask CLI groups: thin wrappers over the domain modules."""

from flask import Flask

from . import admins, clients, demo, directory, keys


def init_app(app: Flask) -> None:
    for group in (clients.group, directory.group, keys.group, admins.group, demo.group):
        app.cli.add_command(group)
