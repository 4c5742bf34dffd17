"""An in-memory key-value store: set, get, delete and list keys."""

from __future__ import annotations

from typing import Any

from synthpipe.tools.environments.base import Environment, ToolError, tool


class KVStore(Environment):
    name = "kv_store"
    stateful = True

    def default_state(self) -> dict[str, Any]:
        return {"items": {}}

    @tool
    def kv_set(self, key: str, value: str) -> dict[str, Any]:
        """Store a value under a key, replacing any previous value.

        Args:
            key: the key
            value: the value to store
        """
        previous = self.data["items"].get(key)
        self.data["items"][key] = value
        return {"key": key, "value": value, "replaced": previous is not None}

    @tool
    def kv_get(self, key: str) -> dict[str, Any]:
        """The value stored under a key.

        Args:
            key: the key
        """
        if key not in self.data["items"]:
            raise ToolError(f"no key {key!r}")
        return {"key": key, "value": self.data["items"][key]}

    @tool
    def kv_delete(self, key: str) -> dict[str, Any]:
        """Delete a key and its value.

        Args:
            key: the key
        """
        if key not in self.data["items"]:
            raise ToolError(f"no key {key!r}")
        del self.data["items"][key]
        return {"deleted": key}

    @tool
    def kv_list(self, prefix: str = "") -> dict[str, Any]:
        """The stored keys, sorted, optionally only those starting with a prefix.

        Args:
            prefix: only keys starting with this
        """
        return {"keys": sorted(k for k in self.data["items"] if k.startswith(prefix))}
