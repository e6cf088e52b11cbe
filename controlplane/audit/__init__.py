"""The operation log: append-only, hash-chained, with signed checkpoints (Suining 31: kept complete >= 1 year)."""
