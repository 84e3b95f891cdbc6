"""The writes of the Atlassian directory adapter (v2 and user management; see retry.py on idempotency)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.atlassian.scope import OrgScope
from adapters.atlassian.transport import segment
from core.model import AccountId, GroupId


class DirectoryWrites(OrgScope):
    """The ``core.ports.DirectoryWriter`` methods; :class:`AtlassianDirectory` adds the reads."""

    async def _write(
        self, method: str, path: str, account_id: AccountId, json: Mapping[str, Any] | None = None
    ) -> None:
        await self._http.request(method, path, mutating=True, json=json, account_id=account_id)

    async def suspend(self, account_id: AccountId) -> None:
        """``POST .../users/{id}/suspend`` (204). Groups and roles are kept. Idempotent.

        Raises ``NotManageable(reason="ADMIN-403-3")`` for org admins, ``AccountNotFound``.
        """
        await self._write(
            "POST", f"{await self._users_path(write=True)}/{self._account(account_id)}/suspend", account_id
        )

    async def restore(self, account_id: AccountId) -> None:
        """``POST .../users/{id}/restore`` (204): undo a suspension. Idempotent."""
        await self._write(
            "POST", f"{await self._users_path(write=True)}/{self._account(account_id)}/restore", account_id
        )

    async def remove_from_directory(self, account_id: AccountId) -> None:
        """``DELETE .../users/{id}`` (204): the user leaves the directory; coming back needs a re-invite.

        Raises ``NotManageable(reason="ADMIN-403-3")`` for org admins, ``AccountNotFound``.
        """
        await self._write("DELETE", f"{await self._users_path(write=True)}/{self._account(account_id)}", account_id)

    async def _memberships_path(self, group_id: GroupId) -> str:
        directory_id = await self._write_directory()
        return f"{self._org_path}/directories/{segment(directory_id)}/groups/{segment(group_id)}/memberships"

    async def add_to_group(self, group_id: GroupId, account_id: AccountId) -> None:
        """``POST .../groups/{groupId}/memberships`` with ``{"accountId"}``. Idempotent.

        Raises ``NotManageable(reason="ADMIN-403-5")`` for SCIM-synced users or groups,
        ``AccountNotFound`` for an unknown user, ``DirectoryError`` (``ADMIN-404-10``) for an unknown group.
        """
        await self._write("POST", await self._memberships_path(group_id), account_id, {"accountId": account_id})

    async def remove_from_group(self, group_id: GroupId, account_id: AccountId) -> None:
        """``DELETE .../groups/{groupId}/memberships/{accountId}``. Idempotent; errors as :meth:`add_to_group`."""
        await self._write("DELETE", f"{await self._memberships_path(group_id)}/{self._account(account_id)}", account_id)

    def _lifecycle_path(self, account_id: AccountId, action: str) -> str:
        return f"/users/{self._account(account_id)}/manage/lifecycle/{action}"

    async def deactivate(self, account_id: AccountId, message: str | None = None) -> None:
        """``POST /users/{id}/manage/lifecycle/disable`` with ``{"message"}`` (204). Idempotent.

        Raises ``NotManageable`` with ``managedAccount`` (unmanaged) or ``externalDirectory.scim``
        (IdP-owned), ``AccountNotFound``.
        """
        body = {"message": message} if message is not None else {}
        await self._write("POST", self._lifecycle_path(account_id, "disable"), account_id, body)

    async def activate(self, account_id: AccountId) -> None:
        """``POST /users/{id}/manage/lifecycle/enable`` (204). Idempotent; errors as :meth:`deactivate`."""
        await self._write("POST", self._lifecycle_path(account_id, "enable"), account_id)

    async def delete_managed(self, account_id: AccountId) -> None:
        """``POST /users/{id}/manage/lifecycle/delete`` (200): delete after Atlassian's 14-day grace.

        Raises ``NotManageable(reason=<first errorCodes code>, status=409)`` when not eligible, which
        includes "already scheduled" (so not idempotent: re-read the account after a 409), plus the
        refusals of :meth:`deactivate`.
        """
        await self._write("POST", self._lifecycle_path(account_id, "delete"), account_id)

    async def cancel_delete(self, account_id: AccountId) -> None:
        """``POST /users/{id}/manage/lifecycle/cancel-delete`` (200): the account is active again.

        Raises ``NotManageable(status=409)`` when no deletion is scheduled, plus the refusals of :meth:`deactivate`.
        """
        await self._write("POST", self._lifecycle_path(account_id, "cancel-delete"), account_id)
