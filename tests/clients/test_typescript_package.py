"""The TypeScript client's package files: a lock file that records no download address (packages come from
whichever registry npm is configured with), exact versions, and the npm setting that keeps it so."""

import json
from pathlib import Path
from typing import Any

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"


def addresses(value: Any, where: str = "") -> list[str]:
    """Every string holding an address, with where it is; `funding` pages are links for people, not downloads."""
    if isinstance(value, dict):
        return [found for key, item in value.items() if key != "funding" for found in addresses(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in addresses(item, f"{where}[{index}]")]
    return [where] if isinstance(value, str) and "://" in value else []


@pytest.fixture(scope="module")
def lock() -> dict[str, Any]:
    lock_file: dict[str, Any] = json.loads((PACKAGE / "package-lock.json").read_text())
    return lock_file


def test_the_lock_file_records_no_download_address(lock):
    packages = lock["packages"]
    assert len(packages) > 10, "the lock file lost its packages"
    assert [name for name, package in packages.items() if "resolved" in package] == []
    assert addresses(lock) == []
    assert all(package.get("integrity") for name, package in packages.items() if name), "every package is pinned"


def test_the_addresses_check_finds_an_address(lock):
    tampered = json.loads(json.dumps(lock))
    name = next(name for name in tampered["packages"] if name)
    tampered["packages"][name]["resolved"] = "https://example.invalid/x.tgz"
    assert addresses(tampered) == [f".packages.{name}.resolved"]


def test_versions_are_exact_and_npm_keeps_addresses_out(lock):
    manifest = json.loads((PACKAGE / "package.json").read_text())
    wanted = manifest["dependencies"] | manifest["devDependencies"]
    assert all(version[0].isdigit() for version in wanted.values()), wanted
    assert {name: lock["packages"][f"node_modules/{name}"]["version"] for name in wanted} == wanted
    settings = (PACKAGE / ".npmrc").read_text().splitlines()
    assert "omit-lockfile-registry-resolved=true" in settings
