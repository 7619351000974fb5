"""Every relative link in the README and docs/ points at a file of this repository, and every #anchor at a heading.

The project must be understandable from a clone alone, so a link that leaves the repository fails too.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "services" / "subsidy" / "rules" / "README.md", *(ROOT / "docs").glob("*.md")]
)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _links(document: Path) -> list[str]:
    text = FENCE.sub("", document.read_text(encoding="utf-8"))
    return [target for target in LINK.findall(text) if not re.match(r"^[a-z]+:", target)]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(document: Path) -> set[str]:
    text = FENCE.sub("", document.read_text(encoding="utf-8"))
    return {_slug(heading) for heading in HEADING.findall(text)}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(document: Path) -> None:
    broken = []
    for target in _links(document):
        path_part, _, anchor = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        if not resolved.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, f"{document.relative_to(ROOT)}: " + "; ".join(broken)


def test_docs_hold_the_six_documents_and_their_index_links_each() -> None:
    documents = {"architecture.md", "rest.md", "domain.md", "operations.md", "errors.md", "ledger.md"}
    names = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert documents | {"README.md"} <= names
    index = _links(ROOT / "docs" / "README.md")
    assert documents <= {link.partition("#")[0] for link in index}


def test_the_slug_matches_githubs_for_the_headings_used_here() -> None:
    assert _slug("The two databases") == "the-two-databases"
    assert _slug("`kaso_bond` — 過疎対策事業債") == "kaso_bond--過疎対策事業債"
    assert _slug("Tests and CI") == "tests-and-ci"
