"""The simulated JSM site's data: customer requests, their status and comments."""

from __future__ import annotations

from dataclasses import dataclass, field

from .wire import JsonDict

OPEN = "Waiting for support"
TRANSITIONS: dict[str, tuple[str, str]] = {  # id → (name, status it leads to)
    "761": ("Resolved", "Resolved"),
    "781": ("Declined", "Declined"),
    "801": ("Reopen", OPEN),
}
REQUEST_TYPE_FIELD = "customfield_10010"


@dataclass
class JsmRequest:
    """One customer request."""

    issue_id: str
    key: str
    service_desk_id: str
    request_type_id: str
    reporter: str
    summary: str
    created: str
    status: str = OPEN
    comments: list[JsonDict] = field(default_factory=list)

    def comment(self, body: str, *, public: bool) -> JsonDict:
        """Add a comment by the site's agent and return it."""
        made: JsonDict = {"id": str(len(self.comments) + 1), "body": body, "public": public}
        made["author"] = {"accountId": "agent"}
        self.comments.append(made)
        return made

    def available(self) -> list[tuple[str, str]]:
        """(id, name) of the transitions allowed from the current status."""
        ids = ("761", "781") if self.status == OPEN else ("801",)
        return [(i, TRANSITIONS[i][0]) for i in ids]

    def dto(self) -> JsonDict:
        """The request as JSM's ``CustomerRequestDTO``."""
        return {
            "issueId": self.issue_id,
            "issueKey": self.key,
            "requestTypeId": self.request_type_id,
            "serviceDeskId": self.service_desk_id,
            "reporter": {"accountId": self.reporter},
            "currentStatus": {"status": self.status},
            "requestFieldValues": [{"fieldId": "summary", "label": "Summary", "value": self.summary}],
        }


@dataclass
class JsmSite:
    """The simulated site's requests."""

    project_key: str = "HELP"
    project_id: str = "10000"
    requests: dict[str, JsmRequest] = field(default_factory=dict)
    counter: int = 0

    def create(self, reporter: str, summary: str, desk: str, request_type: str, created: str) -> JsmRequest:
        """A new open request ``<project>-<n>`` reported by account ``reporter``."""
        self.counter += 1
        request = JsmRequest(
            issue_id=str(20000 + self.counter),
            key=f"{self.project_key}-{self.counter}",
            service_desk_id=desk,
            request_type_id=request_type,
            reporter=reporter,
            summary=summary,
            created=created,
        )
        self.requests[request.key] = request
        return request
