"""ServiceTitan's pairing statuses and the limits of its identifiers: one definition of each.

A pairing is ``PROCESSING`` while the partner decides, then ``COMPLETED`` (the account is
named) or ``DECLINED``. ServiceTitan names each pairing attempt with a request id.
"""

COMPLETED = "COMPLETED"
DECLINED = "DECLINED"
PROCESSING = "PROCESSING"
PAIRING_STATUSES = (PROCESSING, COMPLETED, DECLINED)

REQUEST_ID_MAX = 128
