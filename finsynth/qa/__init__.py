"""Financial question answering: the `QASample` schema, the TAT-QA import and TAT-QA's EM/F1 metrics."""
