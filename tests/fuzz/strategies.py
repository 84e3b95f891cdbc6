"""Hostile request bodies and headers (hypothesis), shared by the fuzz tests and the long benchmark."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "text/plain",
        "application/json; charset=latin-1",
        "application/octet-stream",
        "",
        "application/x-www-form-urlencoded; charset=utf-16",
    ]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=25,
)


def _deep(n: int, kind: str) -> str:
    return "[" * n + "]" * n if kind == "list" else '{"a":' * n + "1" + "}" * n


deep_json = st.builds(_deep, st.integers(1, 20_000), st.sampled_from(["list", "dict"]))

SLACK_TYPES = ["block_actions", "view_submission", "view_closed", "shortcut", "event_callback", "url_verification"]

slack_payloads = st.fixed_dictionaries(
    {"type": st.sampled_from(SLACK_TYPES) | st.text(max_size=10)},
    optional={
        "user": st.one_of(st.text(max_size=5), st.fixed_dictionaries({"id": st.text(max_size=12)}), json_values),
        "team": json_values,
        "actions": st.lists(
            st.fixed_dictionaries(
                {"action_id": st.sampled_from(["jc_keep", "jc_approve", "jc_confirm_run"]) | st.text(max_size=10)},
                optional={"value": st.text(max_size=40) | json_values},
            ),
            max_size=3,
        )
        | json_values,
        "view": json_values,
        "container": json_values,
        "message": json_values,
        "event": json_values,
        "response_url": st.text(max_size=40),
        "trigger_id": st.text(max_size=20),
    },
)

FORM_FIELDS = ["payload", "command", "text", "user_id", "team_id", "channel_id", "response_url", "csrf", "ssl_check"]

forms = st.dictionaries(
    st.sampled_from(FORM_FIELDS) | st.text(max_size=8),
    st.one_of(st.text(max_size=60), json_values.map(json.dumps), slack_payloads.map(json.dumps), deep_json),
    max_size=5,
).map(lambda fields: urlencode(fields).encode())

bodies = st.one_of(
    st.binary(max_size=2048),
    json_values.map(lambda v: json.dumps(v).encode()),
    slack_payloads.map(lambda v: json.dumps(v).encode()),
    deep_json.map(str.encode),
    forms,
    st.binary(max_size=200).map(lambda b: b"payload=" + b),
)


def _jwt(header: Any, payload: Any) -> str:
    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}.c2ln"


authorizations = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.just("Bearer "),
    st.builds(lambda h, p: "Bearer " + _jwt(h, p), json_values, json_values),
    deep_json.map(lambda d: "Bearer " + _jwt(json.loads(d) if len(d) < 2000 else {}, {})),
    deep_json.map(lambda d: "Bearer " + base64.urlsafe_b64encode(d.encode()).decode() + ".e30.c2ln"),
)

activities = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "invoke", "conversationUpdate", "installationUpdate"]) | st.text(max_size=8)},
    optional={
        "serviceUrl": st.sampled_from(["https://smba.trafficmanager.net/emea/", "http://127.0.0.1:1/"])
        | st.text(max_size=20),
        "from": json_values,
        "conversation": json_values,
        "channelData": json_values,
        "value": json_values,
        "text": st.text(max_size=30),
        "id": st.text(max_size=10),
        "recipient": json_values,
    },
).map(lambda v: json.dumps(v).encode())

tokens = st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=80)
