"""The built-in platform engine: graph, nodes, transitions, tools, LLM client, run store."""

__all__: list[str] = []
