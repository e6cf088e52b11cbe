"""Routers per resource family; each route declares its permission (``controlplane.api.auth.requires``)."""
