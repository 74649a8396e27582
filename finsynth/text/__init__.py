"""Text knowledge of the domain: quantity mentions, analysis styles, enumerations, metric names (the lexicon and \
the one name normaliser) and near-duplicate similarity."""
