"""The self-contained HTML pages: the build report with its findings browser, charts, and the relabel review page."""
