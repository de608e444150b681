"""The web tier: HTTP endpoints, the admin console, and what every request goes through
(security headers, the request log, the reverse proxy, metrics, throttling, sessions).

May import: every room but ``cli``. Nothing imports ``web`` (but the app factory).
"""
