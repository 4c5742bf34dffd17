"""Tools and environments a model acts on: the tool registry, parsing of tool calls, the
bundled executable environments and the per-trajectory session that runs calls in isolation."""
