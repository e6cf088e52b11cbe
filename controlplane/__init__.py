"""Yunguan's core: domain types, ledger, store, operation log, configuration and the operator CLI.

The core never imports a cloud SDK; adapters under ``adapters/`` translate at the edge.
"""

__version__ = "0.1.0"
