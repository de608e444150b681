"""The tenant directory: who may sign in, and which accounts and profiles each may pair.

Read ``port`` first: ``AccountDirectory`` is the narrow interface a partner implements to put
its own user store behind the product (``OIDC_PROVIDER_DIRECTORY`` names the class).
``store`` is the default implementation on the product's own tables, with the import and
export documents; ``csv_format`` reads and writes the spreadsheet form of the same documents.

May import: ``core``.
"""

from oidc_provider.directory.port import AccountDirectory, account_directory
from oidc_provider.directory.store import DatabaseDirectory

__all__ = ["AccountDirectory", "DatabaseDirectory", "account_directory"]
