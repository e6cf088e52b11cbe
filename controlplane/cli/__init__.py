"""The operator CLI (``yunguan``)."""
