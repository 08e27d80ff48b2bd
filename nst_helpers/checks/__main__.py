"""``python -m nst_helpers.checks``: where the reference values are; ``--regenerate`` rewrites them."""

from __future__ import annotations

import sys

from .references import main

sys.exit(main())
