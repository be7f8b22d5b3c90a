"""``find_spectrum_files``: the same paths, in the same order, as a walk with pathlib.

Anchor: ``Path.rglob`` + ``Path.is_file`` + ``sorted`` + ``Path.resolve``, path by path (the
slow, obvious listing) on a tree with sub-folders, hidden files, other suffixes, a link to a
file, a link to a folder, a broken link and a file given by name.
"""
import os
from pathlib import Path

import pytest

from npvae.data.files import SPECTRUM_SUFFIXES, find_spectrum_files
from npvae.utils import NpvaeError


def _rglob_listing(inputs, resolve):
    found = []
    for item in map(Path, inputs):
        if item.is_dir():
            found += [p for p in item.rglob("*") if p.is_file() and not p.name.startswith(".")
                      and p.name.lower().endswith(SPECTRUM_SUFFIXES)]
        else:
            found.append(item)
    return [p.resolve() if resolve else p for p in sorted(set(found))]


@pytest.fixture
def tree(tmp_path):
    """A folder of spectra and decoys; returns (the folder, a folder of links to it)."""
    raw = tmp_path / "raw"
    for name in ("b/spec-2.fits", "a/spec-1.FIT", "a/z/spec-3.fits.gz", "spec-0.fits", "a-b/spec-4.fits",
                 "a/.hidden.fits", ".dot/spec-5.fits", "notes.txt", "a/spec-6.fits.bak"):
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_bytes(b"x")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "deep").mkdir(parents=True)
    (elsewhere / "deep" / "spec-7.fits").write_bytes(b"x")
    (elsewhere / "spec-8.fits").write_bytes(b"x")
    os.symlink(elsewhere / "spec-8.fits", raw / "b" / "linked.fits")          # a link to a file: listed
    os.symlink(elsewhere / "deep", raw / "linked-folder")                     # a link to a folder: not walked
    os.symlink(tmp_path / "missing.fits", raw / "broken.fits")                # a broken link: left out
    links = tmp_path / "links"
    links.mkdir()
    os.symlink(raw, links / "raw")                                            # the whole folder via a link
    return raw, links


@pytest.mark.parametrize("resolve", [False, True])
def test_listing_equals_the_pathlib_walk(tree, resolve, monkeypatch):
    raw, links = tree
    monkeypatch.chdir(raw.parent)
    cases = [[raw], [links / "raw"], ["raw"], [raw / "b", raw / "spec-0.fits", raw / "a"], [str(raw) + "/"]]
    for inputs in cases:
        ours = find_spectrum_files(inputs, resolve=resolve)
        assert ours == _rglob_listing(inputs, resolve), inputs
    assert len(find_spectrum_files([raw])) == 6 + 1                           # 6 spectra and the link
    if resolve:
        assert raw.parent / "elsewhere" / "spec-8.fits" in find_spectrum_files([links / "raw"], resolve=True)


def test_a_missing_input_is_a_one_line_error(tmp_path):
    with pytest.raises(NpvaeError, match="no such file or folder"):
        find_spectrum_files([tmp_path / "nothing"])
