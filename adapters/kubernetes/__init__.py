"""Kubernetes adapter (kubernetes client): namespaces, quotas, volumes. Built in the Kubernetes issue."""
