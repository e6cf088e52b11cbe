"""Explicit units. The core stores CPU in cores, memory and storage in bytes, power in watts, bandwidth in bit/s and
money in fen; conversions from what people write on forms (GiB, Mbit/s, yuan) happen here and nowhere else."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

GIB = 1024**3
MBIT = 1_000_000
MILLI = Decimal("0.001")


class UnitError(ValueError):
    """A quantity that cannot be expressed exactly in the core's unit."""


def _decimal(text: str | int | float | Decimal) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise UnitError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise UnitError(f"not a finite number: {text!r}")
    return value


def gib_to_bytes(text: str | int | float | Decimal) -> int:
    """GiB on a form to bytes; refuses fractions that are not a whole number of bytes."""
    value = _decimal(text) * GIB
    if value != value.to_integral_value():
        raise UnitError(f"{text!r} GiB is not a whole number of bytes")
    if value < 0:
        raise UnitError(f"negative size: {text!r}")
    return int(value)


def plain(value: Decimal) -> str:
    """A decimal as people write it: no exponent, no trailing zeros (400, 0.5)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def bytes_to_gib(value: int) -> Decimal:
    return Decimal(value) / GIB


def cores(text: str | int | float | Decimal) -> Decimal:
    """CPU cores with millicore precision (Kubernetes quotas can be fractional)."""
    value = _decimal(text)
    if value < 0:
        raise UnitError(f"negative CPU: {text!r}")
    if value != value.quantize(MILLI):
        raise UnitError(f"{text!r} cores is finer than a millicore")
    return value.quantize(MILLI).normalize() if value != 0 else Decimal(0)


def cores_to_milli(value: Decimal) -> int:
    return int(value * 1000)


def milli_to_cores(value: int) -> Decimal:
    return (Decimal(value) / 1000).normalize() if value else Decimal(0)


def mbit_to_bps(text: str | int | float | Decimal) -> int:
    value = _decimal(text) * MBIT
    if value != value.to_integral_value() or value < 0:
        raise UnitError(f"{text!r} Mbit/s is not a whole, non-negative number of bit/s")
    return int(value)


def whole(text: str | int | float | Decimal) -> int:
    """A non-negative whole number (instances, devices, rack units, watts)."""
    value = _decimal(text)
    if value != value.to_integral_value() or value < 0:
        raise UnitError(f"not a whole non-negative number: {text!r}")
    return int(value)
