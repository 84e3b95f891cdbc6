"""License savings actually realised: seats freed by confirmed actions, net of restores."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from core.ledger import EntryState, LedgerEntry
from core.lifecycle import Op
from core.model import Account
from core.policy import Policy

Snapshot = Callable[[str, str], Account | None]


@dataclass(slots=True)
class Savings:
    """Seats freed per product and their monthly value in the policy's currency."""

    currency: str
    seats: dict[str, int] = field(default_factory=dict)
    monthly: dict[str, Decimal] = field(default_factory=dict)
    restored: int = 0

    @property
    def total(self) -> Decimal:
        """Money per month across products."""
        return sum(self.monthly.values(), Decimal(0))


def realised_savings(entries: Iterable[LedgerEntry], snapshot: Snapshot, policy: Policy) -> Savings:
    """Count each (account, product) freed by a confirmed action once, unless a restore undid it.

    ``snapshot(run_id, account_id)`` returns the account as scanned in the run that acted, so a
    suspension is valued at the products the account had then.
    """
    confirmed = [e for e in entries if e.state is EntryState.CONFIRMED]
    restored_cases = {e.case_id for e in confirmed if e.op is Op.RESTORE}
    freed: set[tuple[str, str]] = set()
    result = Savings(currency=policy.currency, restored=len(restored_cases))
    for entry in confirmed:
        if not entry.op.reduces_access or entry.case_id in restored_cases:
            continue
        if entry.op is Op.REMOVE_PRODUCT_ACCESS and entry.product:
            products: Iterable[str] = (entry.product,)
        else:
            account = snapshot(entry.run_id, entry.account_id)
            products = [p.key for p in account.products] if account is not None else ()
        for product in products:
            freed.add((entry.account_id, product))
    for _account, product in freed:
        result.seats[product] = result.seats.get(product, 0) + 1
        result.monthly[product] = result.monthly.get(product, Decimal(0)) + policy.price(product)
    return result
