"""Field types of the policy file.

Each type carries its constraint twice over, from one place: a check that refuses a bad value with
the wording users see (``must be a whole number >= 1``), and the pydantic constraint the JSON
Schema is made from (``minimum: 1``). A refusal is a :func:`problem`: its message, the value to
show after "got" and, when the problem lies deeper than the field, the rest of the path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from core.policy.model import DELIVERY_CHANNELS, RESTORE_SOURCES

PROBLEM = "policy"
_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")


def problem(message: str, got: object = None, *at: str | int) -> PydanticCustomError:
    """A validation error worded for people; ``at`` continues the field path below the field checked."""
    return PydanticCustomError(PROBLEM, "{message}", {"message": message, "got": got, "at": at})


def whole(minimum: int) -> Callable[[object], int]:
    """Check for a whole number (not a bool, not a numeric string) of at least ``minimum``."""

    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise problem(f"must be a whole number >= {minimum}", value)
        return value

    return check


def optional(check: Callable[[object], _T]) -> Callable[[object], _T | None]:
    """``check`` that lets ``null`` through (a cap of ``null`` is off)."""
    return lambda value: None if value is None else check(value)


def number(value: object, *at: str | int) -> Decimal:
    """A finite number >= 0, from a YAML number or a numeric string (``"6.05"``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise problem("must be a number", value, *at)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise problem("must be a number", value, *at) from None
    if not amount.is_finite() or amount < 0:
        raise problem("must be a number >= 0", value, *at)
    return amount


def percent(value: object) -> Decimal | None:
    """A percentage 0–100, or ``None`` (off)."""
    if value is None:
        return None
    amount = number(value)
    if amount > 100:
        raise problem("must be a percentage between 0 and 100", value)
    return amount


def fraction(value: object) -> Decimal:
    """A fraction between 0 and 1."""
    amount = number(value)
    if amount > 1:
        raise problem("must be a fraction between 0 and 1", amount)
    return amount


def flag(value: object) -> bool:
    """``true`` or ``false``, nothing that merely looks like one."""
    if not isinstance(value, bool):
        raise problem("must be true or false", value)
    return value


def choice(choices: tuple[str, ...]) -> Callable[[object], str]:
    """One of ``choices``, spelled exactly."""

    def check(value: object) -> str:
        if not isinstance(value, str) or value not in choices:
            raise problem(f"must be one of: {', '.join(choices)}", value)
        return value

    return check


def member(cls: type[_E]) -> Callable[[object], _E]:
    """A member of the enum ``cls``, by its value."""
    check = choice(tuple(m.value for m in cls))
    return lambda value: cls(check(value))


def mapping(value: object, *at: str | int) -> Mapping[str, Any]:
    """A mapping with string keys."""
    if not isinstance(value, Mapping):
        raise problem("must be a mapping", type(value).__name__, *at)
    for key in value:
        if not isinstance(key, str):
            raise problem("keys must be strings", key, *at)
    return value


def text_list(value: object, *at: str | int) -> list[str]:
    """A list of non-empty strings, stripped."""
    if not isinstance(value, list):
        raise problem("must be a list of strings", value, *at)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise problem("must be a non-empty string", item, *at, i)
    return [item.strip() for item in value]


def text(message: str) -> Callable[[object], str]:
    """A non-empty string, stripped; ``message`` says what is expected."""

    def check(value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise problem(message, value)
        return value.strip()

    return check


def currency(value: object) -> str:
    """A 3-letter currency code, upper case."""
    if not isinstance(value, str) or not (len(value) == 3 and value.isalpha()):
        raise problem("must be a 3-letter currency code", value)
    return value.upper()


def amounts(value: object) -> dict[str, Decimal]:
    """``prices``: product key → price; ``null`` is no prices."""
    table = mapping({} if value is None else value)
    return {key: number(amount, key) for key, amount in table.items()}


def group_table(value: object) -> dict[str, list[str]]:
    """``lifecycle.access_groups``: product key → names of the groups that grant it."""
    table = mapping(value or {})
    return {key: text_list(names, key) for key, names in table.items()}


def cron(value: object) -> str | None:
    """Five cron fields, or ``None`` (no schedule)."""
    if value is not None and (not isinstance(value, str) or len(value.split()) != 5):
        raise problem("must be a five-field cron expression (UTC)", value)
    return value


def folder(value: object) -> str | None:
    """A folder path, or ``None``."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise problem("must be a folder path", value)
    return value


def channels(value: object) -> list[str]:
    """A non-empty list of warning channels, each at most once, in the order they are tried."""
    allowed = ", ".join(DELIVERY_CHANNELS)
    if not isinstance(value, list) or not value:
        raise problem(f"must be a non-empty list of channels ({allowed})", value)
    for i, item in enumerate(value):
        if not isinstance(item, str) or item not in DELIVERY_CHANNELS:
            raise problem(f"must be one of: {allowed}", item, i)
        if item in value[:i]:
            raise problem("duplicate channel", item, i)
    return list(value)


def sources(value: object) -> list[str]:
    """A list of restore sources (empty: nobody may ask)."""
    if not isinstance(value, list):
        raise problem("must be a list of sources", value)
    for i, item in enumerate(value):
        if not isinstance(item, str) or item not in RESTORE_SOURCES:
            raise problem(f"must be one of: {', '.join(RESTORE_SOURCES)}", item, i)
    return list(value)


def condition(value: object) -> list[str]:
    """Values of an auto-approve condition, lower case; an empty list is an error, not "no condition"."""
    if isinstance(value, list) and not value:
        raise problem("must list at least one value (leave the field out for no condition)", value)
    return [item.lower() for item in text_list(value)]


def domains(value: object) -> list[str]:
    """``email_domains``: ``acme.com``, or ``*.acme.com`` for its subdomains; lower case."""
    found = condition(value)
    for i, domain in enumerate(found):
        if not is_domain_pattern(domain):
            assert isinstance(value, list)  # condition() refused anything else
            raise problem("must be a domain such as acme.com, or *.acme.com for its subdomains", value[i], i)
    return found


def is_domain_pattern(text: str) -> bool:
    """``acme.com`` or ``*.acme.com``: two or more dot-separated labels of letters, digits and hyphens."""
    labels = text.removeprefix("*.").split(".")
    return len(labels) >= 2 and all(
        label and not label.startswith("-") and not label.endswith("-") and all(c.isalnum() or c == "-" for c in label)
        for label in labels
    )


Count = Annotated[int, Field(ge=0), BeforeValidator(whole(0))]
Positive = Annotated[int, Field(ge=1), BeforeValidator(whole(1))]
OptionalCount = Annotated[Annotated[int, Field(ge=0)] | None, BeforeValidator(optional(whole(0)))]
OptionalPositive = Annotated[Annotated[int, Field(ge=1)] | None, BeforeValidator(optional(whole(1)))]
Percent = Annotated[Annotated[Decimal, Field(ge=0, le=100)] | None, BeforeValidator(percent)]
Fraction = Annotated[Decimal, Field(ge=0, le=1), BeforeValidator(fraction)]
Flag = Annotated[bool, BeforeValidator(flag)]
NonEmpty = Annotated[str, Field(min_length=1)]
Names = Annotated[list[NonEmpty], BeforeValidator(text_list)]
NamesOrNull = Annotated[list[NonEmpty], BeforeValidator(lambda v: text_list([] if v is None else v))]
Condition = Annotated[Annotated[list[NonEmpty], Field(min_length=1)] | None, BeforeValidator(condition)]
DomainCondition = Annotated[Annotated[list[NonEmpty], Field(min_length=1)] | None, BeforeValidator(domains)]
Channels = Annotated[
    list[Annotated[str, Field(json_schema_extra={"enum": list(DELIVERY_CHANNELS)})]],
    Field(min_length=1),
    BeforeValidator(channels),
]
Sources = Annotated[
    list[Annotated[str, Field(json_schema_extra={"enum": list(RESTORE_SOURCES)})]], BeforeValidator(sources)
]
