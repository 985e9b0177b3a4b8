"""The images a bundle may name, and what each name is pinned to.

A bundle says ``image: haproxy``; the platform runs the image it built for
that name (scripts/build-images.sh), identified by its content id, so what
runs cannot change behind a tag and nothing is ever pulled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

NAMES = ("url-anvil", "haproxy", "nginx")
# The tags scripts/build-images.sh gives its images (IMAGE_PREFIX=sre-chaos).
TAG_PREFIX = "sre-chaos"
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
_USER = re.compile(r"[0-9]{1,10}:[0-9]{1,10}")


@dataclass(frozen=True)
class Catalogue:
    """Catalogue name → the image reference to run (an image id once built).

    ``users``: catalogue name → the numeric ``uid:gid`` the image runs as, as
    the build measured it. The sandbox needs numbers, not the image's user
    name, to give the scratch folders it mounts to that user.
    """

    images: Mapping[str, str] = field(default_factory=dict)
    users: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = (set(self.images) | set(self.users)) - set(NAMES)
        if unknown:
            raise ValueError(f"not catalogue names: {sorted(unknown)}")
        object.__setattr__(self, "images", MappingProxyType(dict(self.images)))
        object.__setattr__(self, "users", MappingProxyType(dict(self.users)))

    def pin(self, name: str) -> str:
        return self.images[name]

    def user(self, name: str) -> tuple[int, int] | None:
        """The image's (uid, gid), when the build recorded it."""
        value = self.users.get(name)
        if value is None:
            return None
        uid, gid = value.split(":")
        return int(uid), int(gid)

    @property
    def pinned(self) -> bool:
        """Whether every name points at a built image's id (not merely a tag)."""
        return all(_IMAGE_ID.fullmatch(ref) for ref in self.images.values())


# Before the images are built: the tags they will have. Good enough to check
# a bundle; the runtime must load the catalogue file instead.
DEFAULT_CATALOGUE = Catalogue({name: f"{TAG_PREFIX}/{name}:catalogue" for name in NAMES})


def catalogue_load(*, path: Path) -> Catalogue:
    """The catalogue that scripts/build-images.sh wrote: ``{"images": {name: "sha256:…"}, "users": {name: "uid:gid"}}``.

    Raises OSError when the file cannot be read and ValueError when it is not
    such a file (every name present, each pinned to an image id; ``users``,
    which older builds did not write, may be missing).
    """
    data = json.loads(path.read_text())
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, dict) or set(images) != set(NAMES):
        raise ValueError(f"{path}: expected images for exactly {', '.join(NAMES)}")
    for name, ref in images.items():
        if not isinstance(ref, str) or not _IMAGE_ID.fullmatch(ref):
            raise ValueError(f"{path}: {name} is not pinned to an image id (sha256:…)")
    users = data.get("users", {})
    if not isinstance(users, dict) or not set(users) <= set(NAMES):
        raise ValueError(f"{path}: users must map catalogue names to uid:gid")
    for name, user in users.items():
        if not isinstance(user, str) or not _USER.fullmatch(user):
            raise ValueError(f"{path}: the user of {name} is not uid:gid")
    return Catalogue(images, users)
