"""`python -m finsynth` runs the CLI."""

from finsynth.cli import main

raise SystemExit(main())
