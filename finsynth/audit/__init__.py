"""Auditing a dataset: the lint rules, the count report, token lengths, review decisions, and the HTML pages (html/)."""
