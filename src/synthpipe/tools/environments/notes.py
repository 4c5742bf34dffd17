"""Notes, file-like: create, read, append to, delete and search notes by title."""

from __future__ import annotations

from typing import Any

from synthpipe.tools.environments.base import Environment, ToolError, tool


class Notes(Environment):
    name = "notes"
    stateful = True

    def default_state(self) -> dict[str, Any]:
        return {"notes": {}}

    def _existing(self, title: str) -> str:
        if title not in self.data["notes"]:
            raise ToolError(f"no note titled {title!r}")
        return title

    @tool
    def create_note(self, title: str, content: str) -> dict[str, Any]:
        """Create a note; refused if a note with that title exists.

        Args:
            title: the note's title
            content: its text
        """
        if title in self.data["notes"]:
            raise ToolError(f"a note titled {title!r} already exists")
        self.data["notes"][title] = content
        return {"created": title}

    @tool
    def read_note(self, title: str) -> dict[str, Any]:
        """The text of a note.

        Args:
            title: the note's title
        """
        return {"title": title, "content": self.data["notes"][self._existing(title)]}

    @tool
    def append_note(self, title: str, text: str) -> dict[str, Any]:
        """Add a line of text at the end of a note.

        Args:
            title: the note's title
            text: the line to add
        """
        current = self.data["notes"][self._existing(title)]
        self.data["notes"][title] = f"{current}\n{text}" if current else text
        return {"title": title, "content": self.data["notes"][title]}

    @tool
    def delete_note(self, title: str) -> dict[str, Any]:
        """Delete a note.

        Args:
            title: the note's title
        """
        del self.data["notes"][self._existing(title)]
        return {"deleted": title}

    @tool
    def search_notes(self, query: str) -> dict[str, Any]:
        """Titles of the notes whose title or text contains a word or phrase (any case).

        Args:
            query: the word or phrase
        """
        needle = query.casefold()
        titles = [
            t for t, text in self.data["notes"].items()
            if needle in t.casefold() or needle in text.casefold()
        ]  # fmt: skip
        return {"titles": sorted(titles)}
