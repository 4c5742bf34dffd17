"""Verifiers: programs that check synthetic data (math answers, code in a sandbox, tool calls)."""
