"""The CLI over the agent's HTTP API: where the server is, the token, and a small client.

The server comes from ``--server`` / ``--token-file``, else ``YUNGUAN_SERVER`` / ``YUNGUAN_TOKEN`` (or
``YUNGUAN_TOKEN_FILE``), else the client config file (``$YUNGUAN_CLIENT_CONFIG`` or
``~/.config/yunguan/client.yaml``: ``server``, ``token_file``, ``ca_file``, ``cert_file``, ``key_file``,
``timeout_s``, ``poll_s``). A token is never taken from the command line. No server: the commands stay local.

Errors come back as problem+json: they become one clear line with the request id, and the CLI's exit codes
(401/403 not allowed: 2; 404 and other 4xx: 2; 5xx and an unreachable server: 5).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

EXIT_USAGE = 2
EXIT_REMOTE = 5


class RemoteError(Exception):
    """A call the server refused or could not answer: the message to show, the exit code and the HTTP status (None:
    no answer, or not the server's)."""

    def __init__(
        self, message: str, code: int, status: int | None = None, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.problem = problem or {}  # the problem+json body the server answered


@dataclass(frozen=True)
class ClientConfig:
    server: str
    token: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    timeout_s: float = 30.0
    poll_s: float = 1.0


def client_config_path() -> Path:
    explicit = os.environ.get("YUNGUAN_CLIENT_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "yunguan" / "client.yaml"


def _read_token(path: Path) -> str:
    try:
        token = path.expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RemoteError(f"token file {path}: {exc.strerror or exc}", EXIT_USAGE) from None
    if not token:
        raise RemoteError(f"token file {path} is empty", EXIT_USAGE)
    return token


def _path(value: object) -> Path | None:
    return Path(str(value)).expanduser() if value else None


def resolve(server: str | None, token_file: Path | None) -> ClientConfig | None:
    """The server to talk to, or None: stay local."""
    path = client_config_path()
    file: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RemoteError(f"client config {path}: {exc}", EXIT_USAGE) from None
        if not isinstance(loaded, dict):
            raise RemoteError(f"client config {path}: not a mapping", EXIT_USAGE)
        file = loaded
    url = server or os.environ.get("YUNGUAN_SERVER") or file.get("server")
    if not url:
        return None
    if token_file is not None:
        token = _read_token(token_file)
    elif os.environ.get("YUNGUAN_TOKEN"):
        token = os.environ["YUNGUAN_TOKEN"].strip()
    elif os.environ.get("YUNGUAN_TOKEN_FILE"):
        token = _read_token(Path(os.environ["YUNGUAN_TOKEN_FILE"]))
    elif file.get("token_file"):
        token = _read_token(Path(str(file["token_file"])))
    else:
        raise RemoteError(
            f"server {url} configured but no token: --token-file, YUNGUAN_TOKEN(_FILE) or token_file in {path}",
            EXIT_USAGE,
        )
    try:
        timeout = float(file.get("timeout_s", 30.0))
        poll = float(os.environ.get("YUNGUAN_POLL_S") or file.get("poll_s", 1.0))
    except (TypeError, ValueError):
        raise RemoteError(f"client config {path}: timeout_s and poll_s are seconds", EXIT_USAGE) from None
    return ClientConfig(
        server=str(url).rstrip("/"),
        token=token,
        ca_file=_path(file.get("ca_file")),
        cert_file=_path(file.get("cert_file")),
        key_file=_path(file.get("key_file")),
        timeout_s=timeout,
        poll_s=poll,
    )


def _problem(response: httpx.Response) -> RemoteError:
    request_id = response.headers.get("x-request-id", "")
    detail = ""
    problem: dict[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict):
            problem = body
            detail = str(body.get("detail") or body.get("title") or "")
            request_id = str(body.get("request_id") or request_id)
    except ValueError:
        detail = response.text[:300]
    status = response.status_code
    if status in (401, 403):
        what = "not allowed: the server refused the token" + (f" ({detail})" if detail else "")
    elif status == 404:
        what = f"not found: {detail}"
    else:
        what = f"the server answered {status}: {detail}"
    code = EXIT_REMOTE if status >= 500 else EXIT_USAGE
    return RemoteError(f"{what} [request {request_id}]", code, status, problem)


class Remote:
    """The agent's API, as the CLI calls it."""

    def __init__(self, config: ClientConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        verify: Any = str(config.ca_file) if config.ca_file else True
        cert = (str(config.cert_file), str(config.key_file)) if config.cert_file and config.key_file else None
        self._client = httpx.Client(
            base_url=config.server,
            verify=verify,
            cert=cert,
            timeout=httpx.Timeout(config.timeout_s),
            headers={"Authorization": f"Bearer {config.token}", "User-Agent": "yunguan-cli"},
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Request-Id": f"cli-{uuid.uuid4()}", **kwargs.pop("headers", {})}
        try:
            response = self._client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise RemoteError(
                f"server {self.config.server} unreachable: {why} [request {headers['X-Request-Id']}]", EXIT_REMOTE
            ) from None
        if response.status_code >= 400:
            raise _problem(response)
        return response

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._send("GET", path, params=_clean(params)).json()

    def items(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list, following ``next`` to the end."""
        page = self.get(path, params)
        while True:
            yield from page["items"]
            if not page.get("next"):
                return
            page = self._send("GET", page["next"]).json()

    def post(self, path: str, body: object = None) -> Any:
        """A POST, done once however often it is retried (a fresh Idempotency-Key)."""
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        return self._send("POST", path, json=body if body is not None else {}, headers=headers).json()

    def follow(self, job: dict[str, Any], path: str, console: Console) -> dict[str, Any]:
        """A job the server runs (``path/{id}``: a reconcile run, a usage collection), asked every ``poll_s`` until
        it is no longer running, its progress on a spinner when ``console`` is a terminal (a log gets none)."""
        spinner = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        with spinner as bar:
            task = bar.add_task(job["progress"], total=None)
            while job["state"] == "running":
                time.sleep(self.config.poll_s)
                job = self.get(f"{path}/{job['id']}")
                bar.update(task, description=job["progress"])
        return job

    def download(self, path: str, params: dict[str, Any], out: Path) -> httpx.Headers:
        response = self._send("GET", path, params=_clean(params))
        out.write_bytes(response.content)
        return response.headers


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if params is None else {k: v for k, v in params.items() if v is not None}
