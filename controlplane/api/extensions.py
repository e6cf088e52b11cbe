"""Routers other packages add to the API, as ``module:attribute`` of a FastAPI ``APIRouter``, mounted under ``/v1``
by ``create_app`` when it is not given ``routers`` (so the agent, the committed OpenAPI spec and the tests all get
the same API). Each of their routes must declare its permission with ``controlplane.api.auth.requires``, or the app
refuses to start; vendor routes narrow what they answer with ``Principal.vendor``.

The hosting zone's equipment routes (vendor registration) are added here, one line.
"""

from __future__ import annotations

from importlib import import_module

from fastapi import APIRouter

ROUTERS: tuple[str, ...] = ("controlplane.hosting.api:router",)


def load_routers(names: tuple[str, ...] = ROUTERS) -> list[APIRouter]:
    found: list[APIRouter] = []
    for name in names:
        module, _, attribute = name.partition(":")
        router = getattr(import_module(module), attribute or "router")
        if not isinstance(router, APIRouter):
            raise TypeError(f"{name} is not a FastAPI APIRouter")
        found.append(router)
    return found
