"""OpenStack adapter (openstacksdk): inventory, quotas and actions. Built in the OpenStack issue."""
