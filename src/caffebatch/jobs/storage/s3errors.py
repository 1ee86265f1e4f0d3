"""botocore's errors, translated into ours by table, at the S3 boundary."""

from __future__ import annotations

from botocore import exceptions as boto
from urllib3 import exceptions as urllib3

from caffebatch.errors import (
    AccessDeniedError,
    LocationNotFoundError,
    ObjectAccessDeniedError,
    ObjectArchivedError,
    ObjectCorruptError,
    ObjectNotFoundError,
    StorageError,
    TransientStorageError,
)

# S3 error code (from the response body) -> our error
CODES: dict[str, type[StorageError]] = {
    "NoSuchBucket": LocationNotFoundError,
    "AccessDenied": AccessDeniedError,
    "AllAccessDisabled": AccessDeniedError,
    "InvalidAccessKeyId": AccessDeniedError,
    "SignatureDoesNotMatch": AccessDeniedError,
    "403": AccessDeniedError,
    "SlowDown": TransientStorageError,
    "Throttling": TransientStorageError,
    "ThrottlingException": TransientStorageError,
    "TooManyRequests": TransientStorageError,
    "429": TransientStorageError,
    "RequestTimeout": TransientStorageError,
    "RequestTimeTooSkewed": TransientStorageError,
    "InternalError": TransientStorageError,
    "ServiceUnavailable": TransientStorageError,
    "BadDigest": TransientStorageError,  # what we sent was damaged on the way: send it again
    "InvalidDigest": TransientStorageError,
}

# Codes that concern the one object of a GET, not the location: a bad record, the run goes on.
# (Wrong credentials fail the listing first, and keep their systemic meaning above.)
OBJECT_CODES: dict[str, type[StorageError]] = {
    "NoSuchKey": ObjectNotFoundError,
    "404": ObjectNotFoundError,
    "AccessDenied": ObjectAccessDeniedError,
    "403": ObjectAccessDeniedError,
    "InvalidObjectState": ObjectArchivedError,
}

# botocore / urllib3 exception class -> our error (first match wins)
CLASSES: tuple[tuple[type[Exception], type[StorageError]], ...] = (
    (boto.NoCredentialsError, AccessDeniedError),
    (boto.PartialCredentialsError, AccessDeniedError),
    (boto.FlexibleChecksumError, ObjectCorruptError),  # the body is not what S3 checksummed
    (boto.EndpointConnectionError, TransientStorageError),
    (boto.ConnectionError, TransientStorageError),
    (boto.HTTPClientError, TransientStorageError),  # incl. ConnectionClosedError
    (boto.ResponseStreamingError, TransientStorageError),
    (boto.IncompleteReadError, TransientStorageError),
    (boto.ReadTimeoutError, TransientStorageError),
    (urllib3.ProtocolError, TransientStorageError),
    (urllib3.ReadTimeoutError, TransientStorageError),
    (ConnectionError, TransientStorageError),
    (TimeoutError, TransientStorageError),
)


def translate(error: Exception, what: str, *, one_object: bool = False) -> StorageError:
    """Our error for a botocore (or connection) error raised while doing `what`.

    `one_object`: the request was for one object (a GET), so what concerns only that object
    is an ObjectError.
    """
    if isinstance(error, boto.ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        kind = (one_object and OBJECT_CODES.get(code or str(status))) or CODES.get(code)
        if kind is None:
            kind = TransientStorageError if status >= 500 or status == 429 else StorageError
        message = details.get("Message") or code
        return kind(f"{what}: {code or status}: {message}")
    for theirs, ours in CLASSES:
        if isinstance(error, theirs):
            return ours(f"{what}: {error}")
    return StorageError(f"{what}: {type(error).__name__}: {error}")


FOREIGN: tuple[type[Exception], ...] = (boto.BotoCoreError, boto.ClientError, urllib3.HTTPError, OSError)
