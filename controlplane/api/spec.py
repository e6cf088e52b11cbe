"""The OpenAPI document of the API, as committed in ``docs/openapi.json`` (a test keeps the two equal).

Regenerate after changing a route: ``.venv/bin/python -m controlplane.api.spec > docs/openapi.json``
"""

from __future__ import annotations

import json
import sys
from typing import Any

from controlplane.api.app import create_app
from controlplane.runtime import Runtime


def _no_runtime() -> Runtime:
    raise RuntimeError("the spec is built without a store")


def openapi() -> dict[str, Any]:
    return create_app(_no_runtime).openapi()


def render() -> str:
    return json.dumps(openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
