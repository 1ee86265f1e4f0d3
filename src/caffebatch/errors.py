"""The errors caffebatch raises, as one tree.

    CaffebatchError                 anything caffebatch refuses or cannot do
    ├── ModelError                  a model package cannot be loaded, compiled or scored
    │   ├── PackageError            deployment-meta.json, missing files, unsafe archives
    │   ├── PrototxtSyntaxError     a text file does not parse (file:line:column)
    │   ├── WeightsError            a .caffemodel does not decode or does not fit the net
    │   ├── NetError                the net is malformed (unknown blob, bad in-place use)
    │   ├── UnsupportedLayerError   a layer type caffebatch cannot run
    │   └── LayerError              a layer's parameters or input shapes are invalid
    ├── StorageError                (jobs) a location cannot be listed, read or written
    │   ├── TransientStorageError   a failure worth retrying (connection reset, 5xx, throttling)
    │   ├── LocationNotFoundError   the bucket or folder does not exist
    │   ├── AccessDeniedError       the credentials are refused or lack a permission
    │   └── ObjectError             one object cannot be had; the others can (a bad record)
    │       ├── ObjectNotFoundError         not there (gone since it was listed)
    │       ├── ObjectUnreadableError       the file system will not read it (EACCES, EIO)
    │       ├── ObjectAccessDeniedError     S3 refuses this one object (403 AccessDenied)
    │       ├── ObjectArchivedError         S3 holds it in an archive tier (InvalidObjectState)
    │       ├── ObjectCorruptError          its bytes never matched their checksum
    │       └── ObjectNameError             its name cannot be an input's or an output's
    ├── RecordError                 (jobs) one input object cannot be scored (has a stable code)
    ├── RunError                    (jobs) a whole run cannot go on (has a stable code)
    ├── ExtraMissingError           an optional extra (Ray, S3, the service) is not installed
    ├── MigrationError              (store) the store's schema cannot be brought up to date
    ├── ApiError                    (client) the service answered a request with an error
    └── ServiceError                (service) a request the service refuses; `code` names why
        ├── InvalidRequestError     the request is malformed or names a forbidden place
        ├── AuthenticationError     no credentials, wrong ones, or an expired token
        ├── PermissionDeniedError   the token is good, but not for this instance
        ├── NotFoundError           no such resource in this instance
        ├── ConflictError           the resource's state forbids this (incl. bad transitions)
        ├── PayloadTooLargeError    an upload over the size limit
        └── LimitExceededError      the instance's plan does not allow more

Foreign exceptions (protobuf, ONNX Runtime, botocore) are translated into these once, at
the boundary where they happen, and chained with ``raise ... from``.

Every error has one stable code (`code_of`): its own `code` where it carries one (records,
runs, service refusals), else the entry of its most specific class in `CODES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

V = TypeVar("V")


class CaffebatchError(Exception):
    """Base of every error caffebatch raises on purpose."""


class ModelError(CaffebatchError):
    """A model package cannot be loaded, compiled or scored."""


class PackageError(ModelError):
    """The model package (folder or archive) is incomplete, inconsistent or unsafe."""


class PrototxtSyntaxError(ModelError):
    """A prototxt does not parse. The message names the file, line and column."""

    def __init__(self, path: str, line: int, column: int, reason: str) -> None:
        self.path, self.line, self.column, self.reason = path, line, column, reason
        super().__init__(f"{path}:{line}:{column}: {reason}")


class WeightsError(ModelError):
    """A .caffemodel does not decode, or its blobs do not fit the network."""


class NetError(ModelError):
    """The network is malformed: an unknown bottom blob, a bad in-place use, no inputs."""


class UnsupportedLayerError(ModelError):
    """The net uses layer types caffebatch cannot run."""

    def __init__(self, layers: list[tuple[str, str]]) -> None:
        self.layers = layers  # (layer name, layer type)
        listed = ", ".join(f"{name!r} ({kind})" for name, kind in layers)
        super().__init__(f"unsupported layer type(s): {listed}")


class LayerError(ModelError):
    """A layer cannot run: invalid parameters, weights or input shapes."""

    def __init__(self, layer: str, layer_type: str, reason: str) -> None:
        self.layer, self.layer_type, self.reason = layer, layer_type, reason
        super().__init__(f"layer {layer!r} ({layer_type}): {reason}")


class StorageError(CaffebatchError):
    """A location cannot be listed, read or written (after retries, when retrying helps)."""


class TransientStorageError(StorageError):
    """A storage failure that may pass: a dropped connection, a 5xx, throttling, a timeout."""


class LocationNotFoundError(StorageError):
    """The bucket or folder of a location does not exist."""


class AccessDeniedError(StorageError):
    """The storage refuses the credentials, or they lack a permission."""


class ObjectError(StorageError):
    """One object cannot be read (or its result written); the rest of the location can.

    A run reports it as a bad record with `code`, a stable name for errors.jsonl, and goes
    on; every other StorageError is systemic and fails the run.
    """

    code = "unreadable"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ObjectNotFoundError(ObjectError):
    """One object is not at its key (for example, deleted after it was listed)."""

    code = "unreadable"


class ObjectUnreadableError(ObjectError):
    """The file system refuses to read one file (no permission, an I/O error)."""

    code = "unreadable"


class ObjectAccessDeniedError(ObjectError):
    """S3 refuses to hand over one object although it lists the location."""

    code = "permission_denied"


class ObjectArchivedError(ObjectError):
    """The object is in an archive storage class and must be restored before it can be read."""

    code = "archived"


class ObjectCorruptError(ObjectError):
    """The object's bytes did not match the checksum its storage gave, read after read."""

    code = "corrupt"


class ObjectNameError(ObjectError):
    """An object's name cannot be an input's (not UTF-8, an empty path segment) or cannot name
    its result (reserved, too long for the target). `code` says which."""

    code = "invalid_name"


class RecordError(CaffebatchError):
    """One input object cannot be scored. `code` is stable; the message says what came."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


class RunError(CaffebatchError):
    """A whole run cannot go on. `code` is stable (for example ``error_threshold``)."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


class ExtraMissingError(CaffebatchError):
    """An optional part of caffebatch is needed but not installed; says how to install it."""


class MigrationError(CaffebatchError):
    """The store's schema cannot be brought to this version's: unknown revision or tables."""


class ApiError(CaffebatchError):
    """The service refused a `caffebatch.client` request: its status, `code` and `trace`."""

    def __init__(self, status: int, code: str, message: str, trace: str = "") -> None:
        self.status, self.code, self.message, self.trace = status, code, message, trace
        super().__init__(f"{status} {code}: {message}" + (f" (trace {trace})" if trace else ""))


class ServiceError(CaffebatchError):
    """A request the service refuses. `code` is the short name the API reports."""

    code = "service_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidRequestError(ServiceError):
    """The request is malformed, or names a place the server does not allow."""

    code = "invalid_request"


class AuthenticationError(ServiceError):
    """Missing or wrong credentials, or a token that is invalid or expired."""

    code = "authentication_failed"


class PermissionDeniedError(ServiceError):
    """The caller is authenticated, but not for this instance."""

    code = "forbidden"


class NotFoundError(ServiceError):
    """No such resource in the caller's instance."""

    code = "not_found"


class ConflictError(ServiceError):
    """The resource's current state forbids the request."""

    code = "conflict"


class PayloadTooLargeError(ServiceError):
    """An upload is larger than the server accepts."""

    code = "payload_too_large"


class LimitExceededError(ServiceError):
    """The instance's plan does not allow more of something."""

    code = "plan_limit_exceeded"


class Codes(NamedTuple):
    """An error family's two codes: as a refused request reports it, and as a failed run does."""

    request: str  # the API's error body, say `invalid_weights` for an upload
    run: str      # a run's failure, by family: `model_error` whatever broke in the model


# error class -> its codes, for errors that carry no `code` of their own; the most specific
# class in an error's class chain wins.
CODES: dict[type[Exception], Codes] = {
    PackageError: Codes("invalid_package", run="model_error"),
    PrototxtSyntaxError: Codes("prototxt_syntax_error", run="model_error"),
    WeightsError: Codes("invalid_weights", run="model_error"),
    NetError: Codes("invalid_net", run="model_error"),
    UnsupportedLayerError: Codes("unsupported_layer", run="model_error"),
    LayerError: Codes("invalid_layer", run="model_error"),
    ModelError: Codes("invalid_model", run="model_error"),
    StorageError: Codes("storage_error", run="storage_error"),
}


def most_specific(table: Mapping[type[Any], V], error: BaseException) -> V | None:
    """The entry of `table` for the most specific class of `error` that it has, else None."""
    for kind in type(error).__mro__:
        if kind in table:
            return table[kind]
    return None


def code_of(error: BaseException, *, run: bool = False) -> str | None:
    """The stable code of `error` (as a run reports it when `run`); None for a foreign error."""
    own = getattr(error, "code", None)
    if isinstance(error, CaffebatchError) and isinstance(own, str):
        return own
    codes = most_specific(CODES, error)
    if codes is None:
        return None
    return codes.run if run else codes.request
