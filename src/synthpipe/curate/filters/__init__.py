"""Heuristic quality filters, one family per module.

- :mod:`.repetition`: ``repetition_filter`` (Gopher repetition removal).
- :mod:`.symbols`: ``symbol_filter`` (Gopher quality filter: symbols, bullets, word shape).
- :mod:`.llm_output`: ``llm_output_filter`` (refusals, empty, truncated, echoed, impossible).
- :mod:`.language_filter`: ``language_filter`` (offline language identification).

:mod:`.fields` holds the shared handling of ``text_field`` settings.
"""
