"""Form quantities become exact core units, or a clear error."""

from decimal import Decimal

import pytest

from controlplane import units


def test_gib_and_cores_convert_exactly() -> None:
    """0.5 GiB is 536870912 bytes; 0.25 cores stays 0.25."""
    assert units.gib_to_bytes("0.5") == 512 * 1024**2
    assert units.cores("0.25") == Decimal("0.25")
    assert units.plain(units.bytes_to_gib(400 * 1024**3)) == "400"


@pytest.mark.parametrize(
    ("convert", "value", "message"),
    [
        (units.gib_to_bytes, "abc", "not a number"),
        (units.gib_to_bytes, "-1", "negative"),
        (units.gib_to_bytes, "1e-12", "whole number of bytes"),
        (units.cores, "0.0001", "finer than a millicore"),
        (units.whole, "2.5", "whole"),
        (units.gib_to_bytes, "NaN", "finite"),
    ],
)
def test_bad_quantities_are_refused_with_a_reason(convert, value, message) -> None:  # type: ignore[no-untyped-def]
    """Each bad quantity names what is wrong."""
    with pytest.raises(units.UnitError, match=message):
        convert(value)
