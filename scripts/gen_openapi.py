"""Write docs/openapi.json: the OpenAPI document of `hookline serve` (a test checks it is current)."""

from __future__ import annotations

import json
from pathlib import Path

from hookline.server.app import openapi_document

OUT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def main() -> None:
    OUT.write_text(
        json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}")


if __name__ == "__main__":
    main()
