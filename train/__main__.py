"""`python -m train` (also under `accelerate launch -m train sft ...`)."""

import sys

from .cli import main

sys.exit(main())
