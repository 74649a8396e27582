"""Scoring predictions against gold (matchers live in finsynth.text.names) and diagnosing errors."""
