"""The pairing lifecycle: a tenant's account paired with ServiceTitan, by OpenID Connect
(``lifecycle``: recorded at the code exchange, bound to ServiceTitan's request id, decided
by an admin when asynchronous) or by Custom pairing (``custom``: the partner's own page
reports to the Leads API through the outbox).

May import: ``core``, ``directory``, ``servicetitan``.
"""
