"""The core: what every other room stands on.

Owns the settings, the Flask extensions, the database models, the clock, the audit log, the
one problem type that every refusal is told in, and the secrets (password and token hashing,
encryption of what must be read back, re-keying, purging what has expired).

May import: the standard library and third-party packages only — nothing of the product
above it.
"""
