"""Reconcile: desired (the ledger) + observed (adapters' inventory snapshots) -> drift. Pure and deterministic."""
