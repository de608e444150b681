"""The pairing lifecycle: a tenant's account paired with ServiceTitan, one record for both
mechanisms: by OpenID Connect (``lifecycle``: recorded at the code exchange, bound to
ServiceTitan's request id, decided by an admin when asynchronous; superseding and unpairing)
or by Custom pairing (``custom``: the partner's own page reports to the Leads API through
the outbox). ``records`` lists them all in one representation; ``bookable`` says where a
booking may go.

May import: ``core``, ``directory``, ``servicetitan``.
"""
