"""The ledger: what each unit's systems were approved, revision by revision, and where they run."""
