"""What the partner configures for ServiceTitan: job types, extra details, the keys that
authenticate ServiceTitan's webhooks, and the logo ServiceTitan shows.

May import: ``core``, ``directory`` and the rest of ``servicetitan``.
"""
