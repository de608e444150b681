"""Flask extensions, unbound: the app factory binds them, so no module imports the app."""

import sqlite3
from typing import TYPE_CHECKING

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
if TYPE_CHECKING:
    # Flask-SQLAlchemy makes db.Model at run time, a subclass of Base that a type checker
    # cannot see; the models declare it through this name.
    Model = Base
else:
    Model = db.Model
# Batch mode lets SQLite, which cannot ALTER most things, run the same migrations.
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
csrf = CSRFProtect()
# Only the sign-in limits of ``throttling`` use it; their storage is Flask-Limiter's own
# setting RATELIMIT_STORAGE_URI. A moving window has no boundary at which a guesser gets a
# fresh allowance, and storage errors are wrapped so that one handler answers them all.
limiter = Limiter(get_remote_address, strategy="moving-window", storage_options={"wrap_exceptions": True})


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record):
    """SQLite enforces foreign keys (and so ON DELETE CASCADE) only when asked, and lets
    readers proceed beside a writer only in WAL mode."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
