"""Records and their storage: readers, writers, quarantine of bad input."""
