"""Policy packs: one YAML file per jurisdiction, data not code (see the regulation-packs issue)."""
