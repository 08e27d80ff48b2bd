"""``python -m nst_helpers.checks``: where the reference values are; ``--regenerate`` rewrites them."""

import sys

from .references import main

sys.exit(main())
