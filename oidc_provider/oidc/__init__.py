"""The OpenID Connect provider, on Authlib: the authorization server and its grants,
client authentication, response modes, the signing key ring, claims, the ordered checks of
an authorization request, sign-in and consent (interaction), the relying-party client
registry, and the metadata that describes it all (discovery, OpenAPI).

May import: ``core``, ``directory``, ``servicetitan``, ``pairing``.
"""
