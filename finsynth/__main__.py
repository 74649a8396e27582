"""`python -m finsynth` runs the CLI."""

from .cli import main

raise SystemExit(main())
