"""Cinder volume driver for the local dev OpenStack: cinder's own fake driver, able to extend volumes."""

from cinder.tests.fake_driver import FakeLoggingVolumeDriver


class FakeVolumeDriver(FakeLoggingVolumeDriver):
    def extend_volume(self, volume, new_size):
        """Nothing to do: the fake driver stores no data."""
