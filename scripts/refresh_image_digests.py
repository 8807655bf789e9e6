#!/usr/bin/env python3
"""Resolve the tags of the images the platform runs (minnova_idp/model/versions.py) to the digests they point at now.

    python3 scripts/refresh_image_digests.py            # every image in versions.pinned_images()
    python3 scripts/refresh_image_digests.py --check    # exit 1 if a pin is missing or stale (CI, on a schedule)
    python3 scripts/refresh_image_digests.py --image NAME=REGISTRY/REPO:TAG[@sha256:...] ...   # other references

For each image it asks the registry for the manifest of the tag (`HEAD /v2/<name>/manifests/<tag>`, the image gate's
client, minnova_idp/load/image_registry.py) and prints `NAME = repository:tag@sha256:<digest>` with what changed.
Paste the new references into versions.py after reviewing the release they come from (docs/security.md "Image pins").
`--credentials FILE`: a .dockerconfigjson for private registries. Needs the registries to be reachable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minnova_idp.load import image_registry  # noqa: E402
from minnova_idp.model import versions  # noqa: E402


def refresh(images: dict[str, str], credentials=None, timeout: float = 10.0) -> list[tuple[str, str, str]]:
    """(name, new reference, what changed) for each image; a reference that cannot be resolved raises."""
    rows = []
    for name, reference in images.items():
        match = versions.IMAGE_REFERENCE.match(reference)
        if match is None:
            raise ValueError(f"{name}: '{reference}' is not <repository>:<tag>[@sha256:<digest>]")
        digest = image_registry.manifest_digest(match["repository"], match["tag"], credentials, timeout)
        new = f"{match['repository']}:{match['tag']}@{digest}"
        change = ("unchanged" if match["digest"] == digest else
                  "newly pinned" if match["digest"] is None else f"was {match['digest']}: the tag moved")
        rows.append((name, new, change))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when any pin is missing or stale")
    parser.add_argument("--image", action="append", default=[], metavar="NAME=REFERENCE",
                        help="resolve this reference instead of versions.py's (repeatable)")
    parser.add_argument("--credentials", type=Path, help="a .dockerconfigjson with pull credentials")
    args = parser.parse_args(argv)
    images = dict(item.split("=", 1) for item in args.image) if args.image else versions.pinned_images()
    credentials = None
    if args.credentials:
        credentials = image_registry.credentials_from_dockerconfigjson(args.credentials.read_bytes())
    try:
        rows = refresh(images, credentials)
    except (ValueError, image_registry.ImageGateError) as exc:
        print(f"refresh_image_digests: {exc}", file=sys.stderr)
        return 1
    for name, reference, change in rows:
        print(f"{name} = {reference}  ({change})")
    return 1 if args.check and any(change != "unchanged" for _, _, change in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
