"""``client.versions``: golden-set versions, frozen and read back (the API's versions/)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mleval_client.wire import MlevalError
from mleval_client.wire import object_id as _id

if TYPE_CHECKING:
    from mleval_client.client import Client


class Versions:
    def __init__(self, client: Client) -> None:
        self.client = client

    def list(self) -> Iterator[dict]:
        return self.client.pages("versions.list")

    def get(self, version: Any) -> dict:
        """A version by id, or by name (looked up in the list)."""
        key = _id(version)
        if isinstance(key, str) and not key.isdigit():
            for item in self.list():
                if item["name"] == key:
                    return item
            raise MlevalError(f"no version named {key!r}", status=404)
        return self.client.request("versions.get", path={"id": key})

    def create(self, name: str, *, selection: dict | None = None, description: str = "") -> dict:
        """Freeze the cases ``selection`` picks (the case list's filters; default: the golden
        set) as the named immutable version (a curator's token). A taken name or a selection
        matching no case raises MlevalError with status 409."""
        body = {"name": name, "description": description}
        if selection is not None:
            body["selection"] = selection
        return self.client.request("versions.create", json_body=body)

    def diff(self, a: Any, b: Any) -> dict:
        """Cases added in ``b``, removed from ``a`` and changed between them, with the counts;
        each version by its dict, id or name."""
        ids = {name: self._key(version) for name, version in (("a", a), ("b", b))}
        return self.client.request("versions.diff", params=ids)

    def _key(self, version: Any) -> int:
        key = _id(version)
        return key if isinstance(key, int) else self.get(version)["id"]

    def cases(self, version: Any) -> Iterator[dict]:
        """The version's cases as frozen (``case_id`` and the content; ``id`` added)."""
        for case in self.client.pages("versions.cases", path={"pk": self._key(version)}):
            yield {"id": case["case_id"], **case}
