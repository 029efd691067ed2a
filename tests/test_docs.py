"""The README and docs/ send readers only to files in the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_no_reference_outside_the_repository():
    for doc in DOCS:
        text = doc.read_text()
        assert "shared/spec" not in text and "INTERFACES.md" not in text, doc.name


def test_every_relative_link_exists():
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_the_formats_reference_names_every_case_field():
    from cases.validation import FIELDS

    formats = (ROOT / "docs" / "formats.md").read_text()
    for field in FIELDS:
        assert f"`{field}`" in formats, field
    assert "docs/formats.md" in (ROOT / "README.md").read_text()
