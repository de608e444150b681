"""ServiceTitan's pairing statuses and the limits of its identifiers: one definition of each.

A pairing is ``PROCESSING`` while the partner decides, then ``COMPLETED`` (the account is
named) or ``DECLINED``. ServiceTitan names each pairing attempt with a request id.
``UNPAIRED`` is ours alone: ServiceTitan's document has no un-pairing call, so a pairing
that ended here (superseded by a newer one, or unpaired by the partner) is never sent.
"""

COMPLETED = "COMPLETED"
DECLINED = "DECLINED"
PROCESSING = "PROCESSING"
PAIRING_STATUSES = (PROCESSING, COMPLETED, DECLINED)
UNPAIRED = "UNPAIRED"
#: Every status a pairing record may have.
RECORD_STATUSES = (*PAIRING_STATUSES, UNPAIRED)

REQUEST_ID_MAX = 128
