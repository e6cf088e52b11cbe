"""Regulation packs as data, their evaluation over the usage rollups, and what follows from a finding."""
