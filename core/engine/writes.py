"""The directory writes each ledger op stands for (the only place the engine changes Atlassian)."""

from __future__ import annotations

from typing import assert_never

from core.ledger import LedgerEntry
from core.lifecycle import Case, CaseState, Op
from core.model import Account, AccountId, GroupId
from core.ports import DirectoryWriter

DEACTIVATION_REASON = "Deactivated after a period of inactivity (jira-cleanup)."


async def write(directory: DirectoryWriter, entry: LedgerEntry, case: Case, account: Account) -> None:
    """Send the change ``entry`` stands for; a restore undoes the case's recorded effect."""
    account_id = AccountId(entry.account_id)
    match entry.op:
        case Op.REMOVE_PRODUCT_ACCESS:
            for group in entry.group_ids:
                await directory.remove_from_group(GroupId(group), account_id)
        case Op.SUSPEND:
            await directory.suspend(account_id)
        case Op.DEACTIVATE:
            await directory.deactivate(account_id, DEACTIVATION_REASON)
        case Op.DELETE_MANAGED:
            await directory.delete_managed(account_id)
        case Op.REMOVE_FROM_DIRECTORY:
            await directory.remove_from_directory(account_id)
        case Op.RESTORE:
            await _restore(directory, case, account)
        case Op.CANCEL_DELETE:
            await _cancel_delete(directory, case, account)
        case _:
            assert_never(entry.op)


async def _cancel_delete(directory: DirectoryWriter, case: Case, account: Account) -> None:
    """Undo the deletion only: cancel it, and the account stays as the action before it left it.

    Atlassian's cancel-delete restores *and activates* the account, so the case's effect (the
    suspension, deactivation or product groups the earlier action took) is applied again; each of
    those writes is idempotent, so this also holds where cancel-delete left it in place.
    """
    account_id = AccountId(account.account_id)
    if account.scheduled_for_deletion:
        await directory.cancel_delete(account_id)
    effect = case.effect
    if effect is None:
        return
    if effect.op is Op.REMOVE_PRODUCT_ACCESS:
        for group in effect.group_ids:
            await directory.remove_from_group(GroupId(group), account_id)
    elif effect.op is Op.SUSPEND:
        await directory.suspend(account_id)
    elif effect.op is Op.DEACTIVATE:
        await directory.deactivate(account_id, DEACTIVATION_REASON)


async def _restore(directory: DirectoryWriter, case: Case, account: Account) -> None:
    """Give everything back: a scheduled deletion is cancelled, then the case's effect undone."""
    account_id = AccountId(account.account_id)
    if case.state is CaseState.DELETION_SCHEDULED or account.scheduled_for_deletion:
        if account.scheduled_for_deletion:
            await directory.cancel_delete(account_id)
        await directory.activate(account_id)
    effect = case.effect
    if effect is None:
        return
    if effect.op is Op.REMOVE_PRODUCT_ACCESS:
        for group in effect.group_ids:
            await directory.add_to_group(GroupId(group), account_id)
    elif effect.op is Op.SUSPEND:
        await directory.restore(account_id)
    elif effect.op is Op.DEACTIVATE:
        await directory.activate(account_id)
