"""``python -m gator_nb``: the same as the ``gator`` command."""

from __future__ import annotations

import sys

from gator_nb.cli import main

if __name__ == "__main__":
    sys.exit(main())
