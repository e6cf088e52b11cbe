"""Kubernetes adapter: namespaces, ResourceQuotas and PersistentVolumeClaims of one cluster, as raw JSON."""
