"""gunicorn settings for the provider, each with its reason.

    gunicorn -c python:oidc_provider.gunicorn_conf --bind 0.0.0.0:8000 "oidc_provider:create_app()"

Anything given on the command line or in ``GUNICORN_CMD_ARGS`` overrides these.
``docs/production.md`` explains the choices.
"""

import ctypes
import ctypes.util
import os
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger

from oidc_provider.web.request_log import JsonFormatter, QueryStringFilter

# The work is CPU-bound (signing, templates) with short database waits between. One worker
# process per core, each with a few threads that keep the core busy while one waits on the
# database. Two sync processes per core did that too, but every switch between them started
# a request on cold caches: 13.6 ms of CPU per pairing instead of 8.2 ms (docs/performance.md).
# WEB_CONCURRENCY is the usual knob for the process count.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
worker_class = "gthread"
threads = 4
# No request of ours should take long; one that does is stuck (e.g. a lost database
# connection) and its worker is replaced.
timeout = 30
graceful_timeout = 30
# Recycle workers now and then so that a slow leak (in a library, a directory plugin) can
# never grow without bound; the jitter keeps them from restarting together.
max_requests = 10000
max_requests_jitter = 1000
# Which proxy may say "this arrived over https" is the product's setting,
# OIDC_PROVIDER_TRUSTED_PROXY_COUNT, applied by the app; gunicorn's own rule (trust
# X-Forwarded-Proto from loopback) would bypass it.
secure_scheme_headers = {}
# gunicorn 25+ opens a control socket at one path per user: a second instance on the same
# host would take it over. Deployments restart through their process manager instead.
control_socket_disable = True


class JsonLogger(Logger):
    """gunicorn's own messages (start, stop, worker timeouts) as JSON lines, like the app's.
    No access log: the app writes one line per request with its request id, and gunicorn's
    would repeat it with the query string, which carries state and login_hint. gunicorn's
    own messages quote request lines and URIs too: the product's filter takes their query
    strings out."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())
            handler.addFilter(QueryStringFilter())

    def access(self, resp, req, environ, request_time):
        pass


logger_class = JsonLogger

# glibc raises its mmap threshold once a large block has been freed, after which the 7 MiB of
# each password hash (hashing.py) comes from the heap of the thread that hashed, and stays
# there: a worker whose four threads had each served a sign-in held 4 x 7 MiB more (136 MB
# against 116 MB). glibc's default threshold, set explicitly, stays fixed: every large block
# is mapped on its own and given back when freed. Set here, in the master, so that every
# worker forked from it inherits the setting.
_M_MMAP_THRESHOLD = -3
_libc = ctypes.CDLL(ctypes.util.find_library("c"))
if hasattr(_libc, "mallopt"):  # glibc; other C libraries keep their own policy
    _libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


def on_starting(server):
    """Give prometheus_client a folder of per-worker count files, emptied at every start:
    files left by the previous run would add its counts to this one's."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        folder = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="oidc-provider-metrics-")
    Path(folder).mkdir(parents=True, exist_ok=True)
    for stale in Path(folder).glob("*.db"):
        stale.unlink()
