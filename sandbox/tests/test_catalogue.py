from __future__ import annotations

import json

import pytest

from sandbox.catalogue import DEFAULT_CATALOGUE, NAMES, Catalogue, catalogue_load

IMAGE_ID = "sha256:" + "ab" * 32


def test_it_loads_the_file_the_image_build_writes(tmp_path):
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps({"images": {name: IMAGE_ID for name in NAMES}}))

    catalogue = catalogue_load(path=path)

    assert catalogue.pin("haproxy") == IMAGE_ID
    assert catalogue.pinned


@pytest.mark.parametrize(
    "content",
    [
        {"images": {"haproxy": IMAGE_ID}},
        {"images": {**{name: IMAGE_ID for name in NAMES}, "redis": IMAGE_ID}},
        {"images": {**{name: IMAGE_ID for name in NAMES}, "nginx": "nginx:latest"}},
        [],
    ],
    ids=["a-name-missing", "a-name-too-many", "a-tag-instead-of-an-id", "not-a-mapping"],
)
def test_it_refuses_a_catalogue_file_that_does_not_pin_every_name(tmp_path, content):
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(content))

    with pytest.raises(ValueError):
        catalogue_load(path=path)


def test_the_default_catalogue_names_the_build_tags_and_says_it_is_not_pinned():
    assert DEFAULT_CATALOGUE.pin("url-anvil") == "sre-chaos/url-anvil:catalogue"
    assert not DEFAULT_CATALOGUE.pinned


def test_a_catalogue_takes_only_catalogue_names():
    with pytest.raises(ValueError):
        Catalogue({"postgres": IMAGE_ID})
