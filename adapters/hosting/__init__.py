"""Hosting adapter (托管): a hosting zone's inventory is the equipment its vendor registered in the store, not an
API to list. Registered under ``yunguan.adapters`` for ``kind: hosting`` clouds."""
