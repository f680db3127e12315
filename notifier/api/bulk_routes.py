"""The routes whose bodies may reach API_BATCH_MAX_BODY_BYTES rather than API_MAX_BODY_BYTES: the batch
send, the send itself (a broadcast's `user_ids` holds up to 10,000 ids) and a topic's subscribers. Named
once, for the API's size check and for gunicorn's (which reads no Django settings): this module imports
nothing of Django."""

import re

_BULK_ROUTE = re.compile(r"/api/v1/(notifications/(batch)?|topics/[-a-zA-Z0-9_]+/subscribers)/?")


def is_bulk_route(path: str) -> bool:
    return _BULK_ROUTE.fullmatch(path) is not None
