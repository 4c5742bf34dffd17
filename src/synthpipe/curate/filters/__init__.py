"""Heuristic quality filters, one family per module.

- :mod:`.quality`: ``quality_filter``, a data profile's filters as one step (profiles in
  :mod:`synthpipe.curate.profiles`).
- :mod:`.instruction`: ``instruction_filter`` (instruction-data detectors), built on
  :mod:`.placeholders`, :mod:`.context_checks`, :mod:`.template_leak`, :mod:`.code_checks`
  and :mod:`.control_chars`; :mod:`.code_text` tells code from prose.
- :mod:`.repetition`: ``repetition_filter`` (Gopher repetition removal).
- :mod:`.symbols`: ``symbol_filter`` (Gopher quality filter: symbols, bullets, word shape).
- :mod:`.llm_output`: ``llm_output_filter`` (refusals, empty, truncated, echoed, impossible).
- :mod:`.language_filter`: ``language_filter`` (offline language identification).

:mod:`.fields` holds the shared handling of ``text_field`` settings.
"""
