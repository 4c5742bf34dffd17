"""LLM access: backends behind one interface, limits, retries, a response cache, structured output."""
