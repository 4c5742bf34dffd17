"""Text utilities shared by curation, audit and generation: normalization, ROUGE-L, language id."""
