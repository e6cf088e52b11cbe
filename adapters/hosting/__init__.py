"""Hosting adapter: vendor-registered equipment. Built with the agent API issue."""
