"""Atlassian Cloud directory adapter (Organizations API v2 + user management API) over httpx.

Public API::

    AtlassianConfig(org_id, api_key, ...)                 frozen settings; the key is masked in repr
    open_directory(config, *, transport=None, ...)        async context manager -> AtlassianDirectory
    AtlassianDirectory(client, config, *, sleep, clock, rng, limiter)
                                                          DirectoryReader + DirectoryWriter
    OrgRateLimiter / limiter_for(org_id)                  the org-wide rate limiter
"""

from adapters.atlassian.client import (
    SEARCH_EXPAND,
    USER_AGENT,
    AtlassianDirectory,
    RequestStats,
    build_client,
    open_directory,
)
from adapters.atlassian.config import AtlassianConfig
from adapters.atlassian.errors import error_from_response
from adapters.atlassian.limiter import OrgRateLimiter, limiter_for, utc_now
from adapters.atlassian.mapping import account_from_json, parse_timestamp
from adapters.atlassian.retry import RetryPolicy

__all__ = [
    "SEARCH_EXPAND",
    "USER_AGENT",
    "AtlassianConfig",
    "AtlassianDirectory",
    "OrgRateLimiter",
    "RequestStats",
    "RetryPolicy",
    "account_from_json",
    "build_client",
    "error_from_response",
    "limiter_for",
    "open_directory",
    "parse_timestamp",
    "utc_now",
]
