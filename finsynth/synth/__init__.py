"""Making and remaking training data: relabel, generate, the offline annotators, count composition and the \
validation a reply must pass."""
