"""Batch mode for an LLM endpoint (`mode: batch`): requests go through the provider's batch
API (OpenAI Batch API, Anthropic Message Batches) at the batch price. `queue.py` gathers the
client's requests into batches, `providers.py` speaks the two APIs, `registry.py` records
every batch in the run directory so an interrupted run re-attaches instead of paying twice."""
