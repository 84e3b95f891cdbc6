"""The policy file (``policy.yml``) as pydantic models: every key, its default and its constraint, once.

The models describe the file as a user writes it; :meth:`PolicyFile.to_policy` turns a validated
file into the frozen values of :mod:`core.policy.model`, which the defaults here are taken from.
Unknown keys are refused (a typo must not silently disable a rule), and so is anything that merely
looks right: ``"3"`` is not a number of days, ``yes`` is not ``true``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from core.model import ProductKey
from core.policy import fields as f
from core.policy import model
from core.policy.fields import problem
from core.policy.model import Action, Mode


def default(cls: Any, name: str) -> Any:
    """The default of the field ``name`` of the dataclass ``cls``: defaults are written once, there."""
    spec = next(item for item in dataclasses.fields(cls) if item.name == name)
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return spec.default


class Section(BaseModel):
    """A mapping of the policy file. ``null`` (and, in a ``lenient`` section, any empty value) is ``{}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    null_is_empty: ClassVar[bool] = True
    lenient: ClassVar[bool] = False

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: object) -> dict[str, Any]:
        """A mapping of known keys; a required key left out is ``null``, so its own check names it."""
        if (data is None and cls.null_is_empty) or (cls.lenient and not data):
            data = {}
        raw = f.mapping(data)
        for key in raw:
            if key not in cls.model_fields:
                raise problem(f"unknown field (expected one of: {', '.join(sorted(cls.model_fields))})", None, key)
        required = {name: None for name, spec in cls.model_fields.items() if spec.is_required()}
        return {**required, **raw}


class Lenient(Section):
    """A nested section where any empty value (``[]``, ``""``) also means "all defaults"."""

    lenient: ClassVar[bool] = True


def unique_names(names: Callable[[Any], str]) -> Callable[[list[Any]], list[Any]]:
    """A check that no two items of a list share a name (``names`` gives an item's name)."""

    def check(items: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if names(item) in seen:
                raise problem("duplicate rule name", names(item), i, "name")
            seen.add(names(item))
        return items

    return check


def non_empty_list(message: str, *, null_is_empty: bool = False) -> Callable[[object], object]:
    """A check that the value is a non-empty list or, when ``null_is_empty``, any list (``null`` being ``[]``)."""

    def check(value: object) -> object:
        value = [] if value is None and null_is_empty else value
        if not isinstance(value, list) or (not value and not null_is_empty):
            raise problem(message, value)
        return value

    return check


class RuleFile(Section):
    """One inactivity rule. A product rule may only remove that product; ``product: any`` rules act on
    the whole account (suspend or deactivate) and measure the latest activity across all products."""

    null_is_empty: ClassVar[bool] = False  # an item of a list, not a section that may be left out

    product: Annotated[str, BeforeValidator(f.text("must be a product key or 'any'"))] = Field(
        description="A product key (jira-software, confluence, jira-servicedesk, ...) or 'any'.", min_length=1
    )
    inactive_days: f.Positive = Field(description="Days without activity after which the rule applies.")
    action: Annotated[Action, BeforeValidator(f.member(Action))] = Field(
        description="remove_product_access for a product rule; suspend or deactivate for product: any."
    )
    warn_days_before: f.Count = Field(
        default(model.Rule, "warn_days_before"), description="Days of warning before the action (< inactive_days)."
    )
    delete_after_days: f.OptionalPositive = Field(
        default(model.Rule, "delete_after_days"),
        description="Delete the account this many days after the action (product: any rules only).",
    )
    name: Annotated[f.NonEmpty | None, BeforeValidator(f.text("must be a non-empty string"))] = Field(
        None, description="Unique rule name (default: <product>-<inactive_days>d-<action>)."
    )

    @property
    def rule_name(self) -> str:
        """The name given, or one made of the product, the days and the action."""
        return self.name or f"{self.product}-{self.inactive_days}d-{self.action.value}"

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.product == model.ANY_PRODUCT and self.action is Action.REMOVE_PRODUCT_ACCESS:
            raise problem("remove_product_access needs a specific product, not 'any'", self.action.value, "action")
        if self.product != model.ANY_PRODUCT and self.action is not Action.REMOVE_PRODUCT_ACCESS:
            raise problem(
                f"{self.action.value} affects every product, so it needs product: any "
                f"(inactivity in one product must not lock someone out of the others)",
                self.action.value,
                "action",
            )
        if self.warn_days_before >= self.inactive_days:
            raise problem(
                f"must be smaller than inactive_days ({self.inactive_days})", self.warn_days_before, "warn_days_before"
            )
        if self.delete_after_days is not None and self.product != model.ANY_PRODUCT:
            raise problem(
                "deleting an account needs an org-wide rule (product: any), not a single-product rule",
                self.delete_after_days,
                "delete_after_days",
            )
        return self

    def to_rule(self) -> model.Rule:
        return model.Rule(
            name=self.rule_name,
            product=self.product,
            inactive_days=self.inactive_days,
            action=self.action,
            warn_days_before=self.warn_days_before,
            delete_after_days=self.delete_after_days,
        )


class ProtectedFile(Section):
    """Accounts and groups that are never selected, whatever the rules say."""

    accounts: f.Names = Field(default_factory=list, description="Account ids or emails (case-insensitive).")
    groups: f.Names = Field(default_factory=list, description="Group names or ids.")

    def to_protection(self) -> model.Protection:
        return model.Protection().adding(self.accounts, self.groups)


class KeepFile(Lenient):
    """How "Keep my access" works: how long a keep lasts and how often one may keep."""

    days: f.Positive = Field(default(model.KeepRules, "days"), description="How long one keep lasts.")
    max_per_period: f.Count = Field(default(model.KeepRules, "max_per_period"), description="Keeps allowed per period.")
    period_days: f.Positive = Field(default(model.KeepRules, "period_days"), description="The period, in days.")
    justification_required: f.Flag = Field(
        default(model.KeepRules, "justification_required"), description="Whether a keep needs a reason."
    )
    approval_after: Annotated[int | None, BeforeValidator(f.optional(f.whole(1)))] = Field(
        default(model.KeepRules, "approval_after"),
        description="After this many keeps of the same access within the period, another keep needs an admin's "
        "approval (they get an Approve keep button; approved after the deadline, the access is given back). "
        "None: never.",
    )
    review_after: f.Positive = Field(
        default(model.KeepRules, "review_after"),
        description="List an account for the admins' keep review (`/jira-cleanup keeps`) once it kept its access "
        "this many times within the period without using it since the first keep.",
    )

    def to_keep(self) -> model.KeepRules:
        return model.KeepRules(**self.model_dump())


class LifecycleFile(Section):
    """How warnings turn into actions, and what an action removes."""

    keep: KeepFile = Field(default_factory=KeepFile)
    unmanaged_deactivate: Annotated[
        str,
        BeforeValidator(f.choice(model.UNMANAGED_DEACTIVATE)),
        Field(json_schema_extra={"enum": list(model.UNMANAGED_DEACTIVATE)}),
    ] = Field(
        default(model.Lifecycle, "unmanaged_deactivate"),
        description="Deactivation only works on managed accounts: suspend unmanaged ones instead, or skip them.",
    )
    access_groups: Annotated[dict[str, list[f.NonEmpty]], BeforeValidator(f.group_table)] = Field(
        default_factory=dict,
        description="Product key → the groups that grant it, added to (or replacing) the built-in ones: "
        + "; ".join(f"{key}: {', '.join(names)}" for key, names in model.DEFAULT_ACCESS_GROUPS.items()),
    )
    schedule: Annotated[str | None, BeforeValidator(f.cron)] = Field(
        default(model.Lifecycle, "schedule_cron"),
        description="Five-field cron expression (UTC) of the scheduled scans.",
    )
    digest: Annotated[str | None, BeforeValidator(f.cron)] = Field(
        default(model.Lifecycle, "digest_cron"),
        description="Five-field cron expression (UTC) of the digest posted to the admin channels (e.g. "
        "'0 8 * * 1': Mondays 08:00): the past week, the coming week and anything unusual. None: no digest.",
    )
    report_folder: Annotated[str | None, BeforeValidator(f.folder)] = Field(
        default(model.Lifecycle, "report_folder"), description="Folder the scheduled reports are written to."
    )
    delivery_order: f.Channels = Field(
        list(default(model.Lifecycle, "delivery_order")), description="Channels a warning is tried on, in this order."
    )
    api_token_recheck_days: f.Count = Field(
        default(model.Lifecycle, "api_token_recheck_days"),
        description="API-token evidence is reused at most this many days (each account falls due on its own day "
        "of the window) for accounts it keeps in review and for warnings already delivered and not yet due; a "
        "first warning and every action read the tokens again. 0: read them on every scan.",
    )

    def to_lifecycle(self) -> model.Lifecycle:
        return model.Lifecycle(
            keep=self.keep.to_keep(),
            unmanaged_deactivate=self.unmanaged_deactivate,
            access_groups={**model.DEFAULT_ACCESS_GROUPS, **{k: tuple(v) for k, v in self.access_groups.items()}},
            schedule_cron=self.schedule,
            digest_cron=self.digest,
            report_folder=self.report_folder,
            delivery_order=tuple(self.delivery_order),
            api_token_recheck_days=self.api_token_recheck_days,
        )


class PerRunFile(Lenient):
    """Caps of one run; the stricter of the two applies, ``null`` switches one off."""

    max_actions: f.OptionalCount = Field(default(model.Caps, "per_run_max"), description="Actions per run at most.")
    max_percent: f.Percent = Field(
        default(model.Caps, "per_run_percent"), description="Actions per run at most, in % of the billable users."
    )


class WindowFile(Lenient):
    """Caps over a sliding window of days; the stricter of the two applies, ``null`` switches one off."""

    days: f.Positive = Field(default(model.Caps, "window_days"), description="Length of the window in days.")
    max_actions: f.OptionalCount = Field(
        default(model.Caps, "window_max"), description="Actions in the window at most."
    )
    max_percent: f.Percent = Field(
        default(model.Caps, "window_percent"), description="Actions in the window at most, in % of the billable users."
    )


class CapsFile(Lenient):
    """Blast-radius caps over every access-reducing action (product removal, suspend, deactivate, delete)."""

    per_run: PerRunFile = Field(default_factory=PerRunFile)
    window: WindowFile = Field(default_factory=WindowFile)
    deletions_per_run: f.OptionalCount = Field(
        default(model.Caps, "deletions_per_run"), description="Account deletions per run at most (null: no cap)."
    )

    def to_caps(self) -> model.Caps:
        return model.Caps(
            per_run_max=self.per_run.max_actions,
            per_run_percent=self.per_run.max_percent,
            window_days=self.window.days,
            window_max=self.window.max_actions,
            window_percent=self.window.max_percent,
            deletions_per_run=self.deletions_per_run,
        )


class CanaryFile(Lenient):
    """The first actions of a run are a canary: too many errors among them stop the run."""

    size: f.Count = Field(default(model.Safety, "canary_size"), description="Actions in the canary.")
    max_error_rate: f.Fraction = Field(
        default(model.Safety, "canary_max_error_rate"), description="Error rate (0–1) in the canary that stops the run."
    )


class BreakerFile(Lenient):
    """The circuit breaker stops a run after consecutive failures."""

    consecutive_failures: f.Positive = Field(
        default(model.Safety, "breaker_failures"), description="Failures in a row that stop the run."
    )


class ApprovalFile(Lenient):
    """Approvals of enforcement runs."""

    expires_hours: f.Positive = Field(
        default(model.Safety, "approval_expires_hours"), description="Hours an approval stays valid."
    )
    deletions_need_approval: f.Flag = Field(
        default(model.Safety, "deletions_need_approval"), description="Whether account deletions need an approval."
    )


class SafetyFile(Section):
    """Safety rails of enforcement: caps, canary, circuit breaker and approvals."""

    caps: CapsFile = Field(default_factory=CapsFile)
    canary: CanaryFile = Field(default_factory=CanaryFile)
    circuit_breaker: BreakerFile = Field(default_factory=BreakerFile)
    approval: ApprovalFile = Field(default_factory=ApprovalFile)
    max_unknown_percent: f.Percent = Field(
        default(model.Safety, "max_unknown_percent"),
        description="Stop when more than this % of the accounts have no known activity (null: never).",
    )

    def to_safety(self) -> model.Safety:
        return model.Safety(
            caps=self.caps.to_caps(),
            canary_size=self.canary.size,
            canary_max_error_rate=self.canary.max_error_rate,
            breaker_failures=self.circuit_breaker.consecutive_failures,
            approval_expires_hours=self.approval.expires_hours,
            deletions_need_approval=self.approval.deletions_need_approval,
            max_unknown_percent=Decimal(100) if self.max_unknown_percent is None else self.max_unknown_percent,
        )


class AutoApproveFile(Section):
    """One auto-approve rule: every condition present must hold; within one, any listed value matches."""

    null_is_empty: ClassVar[bool] = False  # an item of a list, not a section that may be left out

    name: Annotated[f.NonEmpty, BeforeValidator(f.text("must be a non-empty string"))] = Field(
        description="Unique name; the first matching rule names the verdict."
    )
    groups: f.Condition = Field(None, description="In one of these groups (names or ids) as of the latest scan.")
    email_domains: f.DomainCondition = Field(
        None, description="Email domain is exactly one of these; *.acme.com matches the subdomains of acme.com."
    )
    products: f.Condition = Field(
        None, description="A restore would give back one of these products ('any' for org-wide rules)."
    )

    @model_validator(mode="after")
    def _has_a_condition(self) -> Self:
        if not (self.groups or self.email_domains or self.products):
            raise problem("an auto-approve rule needs at least one condition: groups, email_domains or products")
        return self

    def to_auto_approve(self) -> model.AutoApprove:
        return model.AutoApprove(
            name=self.name,
            groups=frozenset(self.groups or ()),
            email_domains=frozenset(self.email_domains or ()),
            products=frozenset(self.products or ()),
        )


class LimitFile(Lenient):
    """At most ``max`` auto-approved restores per account per ``per_days``; above that an admin decides."""

    max: f.Count = Field(default(model.RestoreRules, "limit_max"), description="0: never auto-approve.")
    per_days: f.Positive = Field(default(model.RestoreRules, "limit_days"), description="The period, in days.")


class RestoreFile(Section):
    """Self-service restore: where people may ask, what is approved at once, and the limits."""

    sources: f.Sources = Field(
        sorted(default(model.RestoreRules, "sources")), description="Where a person may ask for access back."
    )
    auto_approve: Annotated[
        list[AutoApproveFile],
        BeforeValidator(non_empty_list("must be a list of rules", null_is_empty=True)),
        AfterValidator(unique_names(lambda rule: rule.name)),
    ] = Field(default_factory=list, description="Tried in order; the first rule that matches approves at once.")
    limit: LimitFile = Field(default_factory=LimitFile)
    deny_groups: f.NamesOrNull = Field(
        default_factory=list, description="Members of these groups are never restored through self-service."
    )
    requests_per_day: f.Positive = Field(
        default(model.RestoreRules, "requests_per_day"), description="Requests per account per day considered at all."
    )
    on_behalf_groups: f.NamesOrNull = Field(
        default_factory=list,
        description="Members of these groups (managers, the service desk) may ask for access back for someone "
        "else, named by email; an admin always decides, and the account's owner is told. Chat admins always may.",
    )

    def to_restore(self) -> model.RestoreRules:
        return model.RestoreRules(
            sources=frozenset(self.sources),
            auto_approve=tuple(rule.to_auto_approve() for rule in self.auto_approve),
            limit_max=self.limit.max,
            limit_days=self.limit.per_days,
            deny_groups=frozenset(group.lower() for group in self.deny_groups),
            requests_per_day=self.requests_per_day,
            on_behalf_groups=frozenset(group.lower() for group in self.on_behalf_groups),
        )


class AuditFile(Section):
    """The audit trail."""

    retention_days: Annotated[
        int,
        Field(ge=model.AUDIT_RETENTION_FLOOR_DAYS),
        BeforeValidator(f.whole(model.AUDIT_RETENTION_FLOOR_DAYS)),
    ] = Field(
        default(model.Policy, "audit_retention_days"),
        description="Days audit events stay in the database before `jira-cleanup audit archive` moves them to a CSV.",
    )


def _version(value: object) -> int:
    if value != 1:
        raise problem("only version 1 is supported", value)
    return 1


class PolicyFile(Section):
    """A jira-cleanup policy file: which inactive accounts lose what, when, and the rails around it."""

    model_config = ConfigDict(title="jira-cleanup policy")
    null_is_empty: ClassVar[bool] = False

    version: Annotated[Literal[1], BeforeValidator(_version)] = Field(1, description="The policy format version.")
    mode: Annotated[Mode, BeforeValidator(f.member(Mode))] = Field(
        default(model.Policy, "mode"),
        description="dry_run changes nothing in Atlassian; enforce lets the lifecycle act.",
    )
    rules: Annotated[
        list[RuleFile],
        Field(min_length=1),
        BeforeValidator(non_empty_list("must be a non-empty list of rules")),
        AfterValidator(unique_names(lambda rule: rule.rule_name)),
    ] = Field(description="Inactivity rules (names unique).")
    protected: ProtectedFile = Field(default_factory=ProtectedFile)
    new_account_grace_days: f.Count = Field(
        default(model.Policy, "new_account_grace_days"), description="Accounts added more recently are never selected."
    )
    last_active_lag_days: f.Count = Field(
        default(model.Policy, "last_active_lag_days"),
        description="Atlassian's last-active data lags up to a day: subtracted before comparing with a threshold.",
    )
    prices: Annotated[dict[str, Annotated[Decimal, Field(ge=0)]], BeforeValidator(f.amounts)] = Field(
        default_factory=dict, description="Product key → list price of a seat per month."
    )
    currency: Annotated[str, BeforeValidator(f.currency)] = Field(
        default(model.Policy, "currency"),
        description="3-letter currency code of the prices.",
        json_schema_extra={"pattern": "^[A-Za-z]{3}$"},
    )
    lifecycle: LifecycleFile = Field(default_factory=LifecycleFile)
    safety: SafetyFile = Field(default_factory=SafetyFile)
    restore: RestoreFile = Field(default_factory=RestoreFile)
    audit: AuditFile = Field(default_factory=AuditFile)

    def to_policy(self) -> model.Policy:
        return model.Policy(
            rules=tuple(rule.to_rule() for rule in self.rules),
            mode=self.mode,
            protected=self.protected.to_protection(),
            new_account_grace_days=self.new_account_grace_days,
            last_active_lag_days=self.last_active_lag_days,
            prices={ProductKey(key): amount for key, amount in self.prices.items()},
            currency=self.currency,
            lifecycle=self.lifecycle.to_lifecycle(),
            safety=self.safety.to_safety(),
            restore=self.restore.to_restore(),
            audit_retention_days=self.audit.retention_days,
        )
