"""Credit amounts. The database holds integer thousandths of a credit ("milli-credits"), so
fractional prices (a remove.bg ``preview`` costs 0.25) add up exactly: no float ever enters a
balance, and a key's balance is the exact sum of its ledger rows.

Clients see credits: an ``int`` while the amount is whole (every amount was, before fractional
prices), else a ``float`` with at most three decimals. withoutbg's ``/available-credit`` keeps
its integer ``credit``: the whole credits a balance holds (rounded down).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MILLI = 1000  # stored units per credit

Credits = int | float


def to_milli(credits: int | float | str | Decimal) -> int:
    """Credits as stored units, exactly; more than three decimals is a ValueError."""
    try:
        value = Decimal(str(credits)) * MILLI
    except InvalidOperation as exc:
        raise ValueError(f"not an amount of credits: {credits!r}") from exc
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"credits have at most three decimals: {credits!r}")
    return int(value)


def from_milli(milli: int) -> Credits:
    """Stored units as credits: an int when whole."""
    whole, part = divmod(int(milli), MILLI)
    return whole if part == 0 else float(Decimal(int(milli)) / MILLI)


def whole_credits(milli: int) -> int:
    """The whole credits in a balance (rounded down), for integer-only client fields."""
    return int(milli) // MILLI
