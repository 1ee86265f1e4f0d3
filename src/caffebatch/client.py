"""A Python client of the service's v3 API (`pip install 'caffebatch[client]'`).

    from caffebatch.client import Client, Place

    with Client("http://127.0.0.1:8080", "admin", "change-me") as client:
        model_id = client.publish("examples/lenet", name="lenet")
        deployment_id = client.create_deployment(
            model_id, Place.s3("in", endpoint="http://minio:9000", access_key=..., secret_key=...),
            Place.s3("out", endpoint="http://minio:9000", access_key=..., secret_key=...))
        final = client.wait(model_id, deployment_id, progress=print)
        for error in client.error_report(model_id, deployment_id):
            print(error["input"], error["code"], error["message"])

The client gets a token with the username and password (HTTP Basic), refreshes it (PUT) before
it expires, and gets a new one if it expired anyway. Refusals raise `ApiError` with the status,
the error body's code and message, and its trace. Only httpx is needed, not the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from caffebatch.errors import ApiError
from caffebatch.package import pack

# the statuses a deployment ends in (caffebatch.store.states; tests check they agree)
FINAL_STATUSES = frozenset({"SUCCESS", "PARTIAL_SUCCESS", "FAILURE"})


@dataclass(frozen=True)
class Place:
    """Where a deployment reads or writes: a bucket (with its connection) or a server folder."""

    kind: str
    place: dict[str, str]
    connection: dict[str, str] = field(default_factory=dict)

    @classmethod
    def s3(cls, bucket: str, prefix: str = "", *, endpoint: str | None = None,
           access_key: str | None = None, secret_key: str | None = None,
           region: str | None = None) -> Place:
        """A bucket (and key prefix) of an S3-compatible store."""
        connection = {"url": endpoint, "access_key": access_key, "secret_key": secret_key,
                      "region": region}
        spot = {"bucket": bucket, **({"prefix": prefix} if prefix else {})}
        return cls("s3", spot, {k: v for k, v in connection.items() if v is not None})

    @classmethod
    def local(cls, path: str | Path) -> Place:
        """A folder on the server, under its CAFFEBATCH_LOCAL_ROOTS."""
        return cls("local", {"path": str(path)})

    def body(self, side: str) -> dict[str, Any]:
        """The request's `input` (side="source") or `output` (side="target")."""
        return {"type": self.kind, side: self.place, "connection": self.connection}


class Client:
    """A signed-in connection to one server, for the instance of the user's token."""

    def __init__(self, url: str, username: str, password: str, *,
                 refresh_margin_s: float = 60.0, timeout_s: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s,
                                  transport=transport)
        self._credentials = (username, password)
        self.refresh_margin_s = refresh_margin_s
        self.token = ""
        self.expires_at = 0.0
        self.instance_id = ""

    # --- tokens

    def sign_in(self) -> None:
        """Get a new token with the username and password."""
        self._take(self._http.get("/v3/identity/token", auth=self._credentials))

    def refresh(self) -> None:
        """Trade the still-valid token for a fresh one."""
        self._take(self._http.put("/v3/identity/token", headers=self._bearer()))

    def _take(self, response: httpx.Response) -> None:
        answer = _json(response)
        self.token, self.instance_id = answer["token"], answer["instance_id"]
        self.expires_at = float(answer["expires_at"])

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _fresh_token(self) -> None:
        left = self.expires_at - time.time()
        if not self.token or left <= 1:
            self.sign_in()
        elif left < self.refresh_margin_s:
            self.refresh()

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                **kwargs: Any) -> Any:
        """One authorized call under /v3/wml_instances/<instance>; its JSON (None for 204)."""
        self._fresh_token()

        def send() -> httpx.Response:
            return self._http.request(method, self._base() + path,
                                      headers={**(headers or {}), **self._bearer()}, **kwargs)

        response = send()
        if response.status_code == 401:  # expired in between (a clock skew): sign in once more
            self.sign_in()
            response = send()
        return _json(response)

    def _base(self) -> str:
        return f"/v3/wml_instances/{self.instance_id}"

    # --- models and deployments

    def publish(self, folder: str | Path, name: str, description: str = "") -> str:
        """Create a model and upload `folder` (packed as a .tar.gz here) as its content; its id."""
        model = self.request("POST", "/published_models", json={
            "name": name, "description": description, "model_type": "caffe-1.0"})
        model_id = str(model["metadata"]["guid"])
        self.request("PUT", f"/published_models/{model_id}/content", content=pack(Path(folder)),
                     headers={"Content-Type": "application/gzip"})
        return model_id

    def create_deployment(self, model_id: str, source: Place, target: Place, *,
                          name: str = "", batch_size: int | None = None,
                          max_error_ratio: float | None = None) -> str:
        """Start a batch deployment of the model's latest version; its id."""
        body: dict[str, Any] = {"name": name, "type": "batch", "input": source.body("source"),
                                "output": target.body("target")}
        if batch_size is not None:
            body["batch_size"] = batch_size
        if max_error_ratio is not None:
            body["max_error_ratio"] = max_error_ratio
        created = self.request("POST", f"/published_models/{model_id}/deployments", json=body)
        return str(created["metadata"]["guid"])

    def deployment(self, model_id: str, deployment_id: str) -> dict[str, Any]:
        """The deployment as the API shows it (`entity.status`, `entity.status_details`)."""
        found: dict[str, Any] = self.request(
            "GET", f"/published_models/{model_id}/deployments/{deployment_id}")
        return found

    def wait(self, model_id: str, deployment_id: str, *,
             progress: Callable[[dict[str, Any]], None] | None = None,
             poll_s: float = 1.0, timeout_s: float | None = None) -> dict[str, Any]:
        """Poll until the deployment ends; its final status_details. `progress` gets each new
        status_details on the way; TimeoutError after `timeout_s`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last: dict[str, Any] | None = None
        while True:
            details: dict[str, Any] = (
                self.deployment(model_id, deployment_id)["entity"]["status_details"])
            if details != last and progress is not None:
                progress(details)
            last = details
            if details["status"] in FINAL_STATUSES:
                return details
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"deployment {deployment_id} is still {details['status']} "
                                   f"after {timeout_s} s")
            time.sleep(poll_s)

    def error_report(self, model_id: str, deployment_id: str) -> list[dict[str, Any]]:
        """The inputs that failed, as far as the API shows them: the first few entries of the
        run's errors.jsonl ({input, code, message}), then the run's own failure if it failed.
        The whole report is in the output location, at `_caffebatch/<deployment id>/errors.jsonl`
        (`read_full_error_report`)."""
        details = self.deployment(model_id, deployment_id)["entity"]["status_details"]
        report = list(details.get("errors") or [])
        failure = details.get("failure")
        if failure:  # its `errors` repeats it as a list, for IBM's client
            report.append({"input": None, "code": failure["code"], "message": failure["message"]})
        return report

    def delete_deployment(self, model_id: str, deployment_id: str) -> None:
        """Cancel the run if it is running, and remove the deployment."""
        self.request("DELETE", f"/published_models/{model_id}/deployments/{deployment_id}")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_full_error_report(output_url: str, deployment_id: str) -> list[dict[str, Any]]:
    """Every entry of a finished run's errors.jsonl, read from its output location (a folder,
    or s3://bucket/prefix with the AWS_* environment for credentials)."""
    import orjson

    from caffebatch.jobs.spec import Location, RetryPolicy
    from caffebatch.jobs.storage import open_storage

    storage = open_storage(Location(output_url), RetryPolicy(outage_s=10.0), connections=1)
    try:
        data = storage.get(f"_caffebatch/{deployment_id}/errors.jsonl", 2**31)
    finally:
        storage.close()
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def _json(response: httpx.Response) -> Any:
    """The answer's JSON, or ApiError from the error body."""
    if response.is_success:
        return response.json() if response.content else None
    try:
        body = response.json()
        first = body["errors"][0]
        raise ApiError(response.status_code, first["code"], first["message"], body.get("trace", ""))
    except (ValueError, KeyError, IndexError, TypeError):
        raise ApiError(response.status_code, "http_error", response.text[:500]) from None
