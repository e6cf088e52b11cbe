"""Adapters: one package per kind of outside system, each turning SDK objects into the core's frozen models."""
