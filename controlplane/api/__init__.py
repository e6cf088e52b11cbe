"""The HTTP API (FastAPI, ``/v1``): ``create_app`` in ``controlplane.api.app``. Kept import-free so the CLI and the
configuration load without FastAPI."""
