"""One cluster's apiserver, spoken to as raw JSON through the official client's configured ApiClient.

The client does the configuration (kubeconfig path and context, or the in-cluster service account), TLS and
authentication; the adapter sends requests with ``param_serialize``/``call_api`` and parses the JSON itself, because
building the client's model objects costs far more than the listing (the same lesson as openstacksdk's resources).
Every request is counted. 429 and 503 answers are retried after Retry-After (bounded, through an injected sleep).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from adapters.kubernetes.errors import KubernetesBadAnswerError, KubernetesError, error_for, translated

Sleep = Callable[[float], None]
RETRIED = {429, 503}


class Cluster:
    """Requests to one apiserver; ``api`` is a configured ``kubernetes.client.ApiClient``."""

    def __init__(self, api: Any, sleep: Sleep, *, retries: int = 3, timeout_s: float = 30.0) -> None:
        self.api = api
        self.sleep = sleep
        self.retries = retries
        self.timeout_s = timeout_s
        self.requests = 0

    @classmethod
    def connect(cls, kubeconfig: Path | None, context: str | None, sleep: Sleep, **options: Any) -> Cluster:
        """From a kubeconfig file (and context), or, with neither, from the in-cluster service account."""
        from kubernetes import client, config

        with translated("load the cluster configuration"):
            configuration = client.Configuration()
            if kubeconfig is None and not context:
                config.load_incluster_config(client_configuration=configuration)
            else:
                config.load_kube_config(
                    config_file=str(kubeconfig) if kubeconfig else None,
                    context=context or None,
                    client_configuration=configuration,
                )
            configuration.retries = no_transport_retries()
            return cls(client.ApiClient(configuration), sleep, **options)

    def close(self) -> None:
        self.api.close()

    def request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """The JSON answer to one request; an error answer raises the adapter's error for its status."""
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in range(self.retries + 1):
            with translated(what):
                serialized = self.api.param_serialize(
                    method, path, query_params=params, header_params=dict(headers), body=body,
                    auth_settings=["BearerToken"],
                )  # fmt: skip
                self.requests += 1
                response = self.api.call_api(*serialized, _request_timeout=self.timeout_s)
                data = response.read()
            if response.status in RETRIED and attempt < self.retries:
                self.sleep(_retry_after(response.getheader("Retry-After"), attempt))
                continue
            if response.status >= 400:
                raise error_for(what, response.status, data)
            try:
                return json.loads(data) if data else None
            except ValueError as exc:
                raise KubernetesBadAnswerError(f"{what}: not JSON") from exc
        raise KubernetesError(f"{what}: no answer")  # pragma: no cover - the loop returns or raises

    def stream(self, path: str, what: str, *, timeout_s: float, **query: Any) -> Iterator[dict[str, Any]]:
        """A watch: one JSON object per line until the server ends it (``timeoutSeconds``) or ``timeout_s`` passes."""
        params = [(k, v) for k, v in query.items() if v is not None]
        with translated(what):
            serialized = self.api.param_serialize(
                "GET", path, query_params=params, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )  # fmt: skip
            self.requests += 1
            response = self.api.call_api(*serialized, _request_timeout=timeout_s)
            if response.status >= 400:
                raise error_for(what, response.status, response.read())
            raw = response.response
            ended = False
            try:
                for line in iter(raw.readline, b""):
                    if line.strip():
                        yield json.loads(line)
                ended = True
            finally:
                if not ended:  # left mid-watch: the connection still carries the stream, so it is never reused
                    raw.close()
                raw.release_conn()

    def get(self, path: str, what: str, **query: Any) -> Any:
        return self.request("GET", path, what, query=query)

    def items(self, path: str, what: str, limit: int, **query: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list, page by page (``limit`` and ``continue``). A continue token that expired answers
        410 and raises KubernetesGoneError: the caller's listing is then incomplete, never silently short."""
        token: str | None = None
        while True:
            page = self.get(path, what, limit=limit, **{"continue": token}, **query)
            try:
                items = page["items"] or []
                token = (page.get("metadata") or {}).get("continue") or None
            except (KeyError, TypeError, AttributeError) as exc:
                raise KubernetesBadAnswerError(f"{what}: not a list") from exc
            yield from items
            if not token:
                return


def no_transport_retries() -> Any:
    """urllib3 would retry 429/503 itself, sleeping on the real clock as Retry-After says; the adapter retries those
    through its injected sleep instead, and counts every attempt. Connection failures are retried once."""
    from urllib3.util.retry import Retry

    return Retry(total=1, connect=1, read=0, status=0, redirect=0, respect_retry_after_header=False)


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        return min(max(float(header), 0.0), 30.0) if header else float(2**attempt)
    except ValueError:
        return float(2**attempt)
