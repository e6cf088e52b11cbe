"""libvirt adapter: hypervisor statistics and volume wipe. Built in the utilization issue."""
