"""``python -m hookline.cli``: the same program as the ``hookline`` console script."""

from __future__ import annotations

from hookline.cli import main

if __name__ == "__main__":
    main()
