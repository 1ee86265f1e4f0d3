"""The plain values a batch run is described by: where, how, and how it went."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from caffebatch.inputs.spec import (
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_MAX_JSONL_BYTES,
    DEFAULT_MAX_JSONL_LINES,
)

# The codes of a RunError (RunSummary.failure["code"]); a run's model and storage failures
# have theirs in caffebatch.errors.CODES.
ERROR_THRESHOLD = "error_threshold"
NO_INPUTS = "no_inputs"        # nothing listed under the source is an input
INTERRUPTED = "interrupted"    # Ctrl-C (KeyboardInterrupt) ended the run
INVALID_RUN = "invalid_run"


@dataclass(frozen=True)
class Location:
    """A local folder path, or ``s3://bucket[/prefix]`` with optional S3 settings.

    Unset S3 settings fall back to the usual AWS environment variables
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``).
    """

    url: str
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    region: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")


@dataclass(frozen=True)
class RetryPolicy:
    """How long a storage call keeps trying through transient failures (see jobs/retry.py).

    Two layers. botocore retries each S3 request up to `request_attempts` times in its
    `mode` ("standard"; "adaptive" also slows the client down while it is throttled), with
    its own backoff: 50 ms doubling, and 1 s doubling for throttling (429, SlowDown), up to
    20 s, honouring Retry-After. Around that, every storage call (a listing page, a GET with
    its whole body, a PUT) is retried with full jitter over `base_delay_s` doubling to
    `max_delay_s`, for as long as `outage_s` seconds from its first failure; past that, the
    call fails with a TransientStorageError and the run with ``storage_error``.
    """

    outage_s: float = 60.0
    base_delay_s: float = 0.1
    max_delay_s: float = 5.0
    mode: Literal["standard", "adaptive"] = "standard"
    request_attempts: int = 3

@dataclass(frozen=True)
class RunOptions:
    """How to run: the batch size, the error threshold and the concurrency.

    `batch_size` None takes the prototxt's batch dimension when it is above 1, else 32.
    `max_error_ratio`: the run fails when more than this share of its records are bad
    (0.1 by default: one bad record in ten is a broken input set, not a few strays).
    `max_inflight_bytes` bounds what the records in flight weigh (their text while decoded,
    then their arrays; see jobs/budget.py), so memory follows it whatever the object size.
    """

    run_id: str
    batch_size: int | None = None
    max_error_ratio: float = 0.1
    concurrency: int = 16               # fetches (and writes) in flight at once
    max_record_bytes: int = 64 * 1024 * 1024
    max_batch_bytes: int = 1024 * 1024 * 1024  # the decoded inputs of one batch, float32
    max_inflight_bytes: int = 512 * 1024 * 1024  # records fetched, decoded, batched at once
    processes: int = 0                  # local worker processes (opt-in); 0: threads in this process
    retry: RetryPolicy = RetryPolicy()
    scorer_threads: int | None = None   # the backend's threads in all; None: every core
    passes: int | None = None           # forward passes at once; None: 2, each on half the threads
    progress_interval_s: float = 0.5
    model_name: str | None = None       # shown in summary.json
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS  # height x width of the largest image
    max_jsonl_bytes: int = DEFAULT_MAX_JSONL_BYTES    # one JSON Lines object
    max_jsonl_lines: int = DEFAULT_MAX_JSONL_LINES    # records in one JSON Lines object
