"""The agent as a service: scheduled jobs over the core (reconcile, sweeps, rollups, findings, the operation log),
each run recorded and counted, readiness and Prometheus metrics over HTTP, and a drain on SIGTERM.

``jobs`` are plain functions of their dependencies; ``runner`` wraps one run (no overlap, errors recorded, counted
and logged); ``schedule`` puts them on an APScheduler ``BackgroundScheduler``; ``daemon`` wires it all together.
"""
