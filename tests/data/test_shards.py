"""Sharded datasets: lazy row indexing, the same Dataset as one file, resumable bookkeeping."""
import json

import numpy as np
import pytest
from astropy.table import vstack

from npvae.data import load_dataset, write_dataset
from npvae.data.dataset import write_shard
from npvae.data.shards import MANIFEST, ShardedArray, ShardWriter, read_manifest, shard_name
from npvae.utils import NpvaeError
from test_dataset import _arrays, _catalog

PLAN = {"kind": "test", "n": 23, "shard_size": 10}


@pytest.fixture
def parts():
    rng = np.random.default_rng(3)
    return [rng.normal(size=(n, 7)).astype(">f4") for n in (10, 0, 10, 3)]


def test_sharded_array_indexes_like_the_concatenation(parts):
    whole = np.concatenate(parts)                                        # (23, 7)
    lazy = ShardedArray(parts)
    assert len(lazy) == 23 and lazy.shape == whole.shape and lazy.dtype == whole.dtype
    rng = np.random.default_rng(4)
    keys = [0, 9, 10, 22, -1, -23, slice(None), slice(5, 15), slice(None, None, -3), slice(21, 2, -4),
            rng.integers(0, 23, 40), np.array([-1, 0, 12, 12]), rng.random(23) < 0.5, np.zeros(23, bool),
            (slice(3, 19), 2), (np.array([15, 2]), slice(1, 4)), (11, slice(None, None, 2))]
    for key in keys:
        np.testing.assert_array_equal(lazy[key], whole[key], err_msg=repr(key))
    np.testing.assert_array_equal(np.asarray(lazy), whole)
    assert np.asarray(lazy, np.float64).dtype == np.float64
    for bad in (23, -24, np.array([0, 23]), np.ones(5, bool), np.array([0.5])):
        with pytest.raises(IndexError):
            lazy[bad]


def test_a_lazy_row_selection_indexes_like_the_selected_rows(parts):
    whole = np.concatenate(parts)                                        # (23, 7)
    rng = np.random.default_rng(5)
    picks = rng.random(23) < 0.6
    chosen = ShardedArray(parts).select(picks)                           # lazy: nothing read
    again = chosen.select(np.array([4, 0, -1, 2]))                       # a selection of a selection
    for lazy, rows in ((chosen, whole[picks]), (again, whole[picks][[4, 0, -1, 2]])):
        assert isinstance(lazy, ShardedArray) and lazy.shape == rows.shape
        for key in (0, -1, slice(None), slice(1, None, 2), np.array([3, 0, 3]), (slice(None), 5)):
            np.testing.assert_array_equal(lazy[key], rows[key], err_msg=repr(key))
        np.testing.assert_array_equal(np.asarray(lazy), rows)
    with pytest.raises(IndexError):
        chosen.select(np.ones(23, bool))                                 # a mask of the wrong length


def _write_shards(folder, n_rows, writer=None, stop=None):
    """Random shards through ShardWriter; returns the arrays and catalogue of all of them."""
    rng = np.random.default_rng(5)
    writer = writer or ShardWriter(folder, PLAN, len(n_rows), meta={"seed": 1})
    out = []
    for index, n in enumerate(n_rows):
        flux, weight, mask = _arrays(n, rng)
        catalog = _catalog(n)
        catalog["PLATE"] += 100 * index
        out.append((flux, weight, mask, catalog))
        if index in writer.todo and (stop is None or index < stop):
            writer.add(write_shard(folder, index, flux, weight, mask, catalog, meta={"shard": index}))
    return [np.concatenate([o[i] for o in out]) for i in range(3)] + [vstack([o[3] for o in out])]


def test_sharded_dataset_loads_as_the_one_file_dataset(tmp_path):
    flux, weight, mask, catalog = _write_shards(tmp_path / "sharded", (10, 10, 3))
    write_dataset(tmp_path / "one.fits", flux, weight, mask, catalog)
    one = load_dataset(tmp_path / "one.fits", memmap=False)
    for memmap in (True, False):
        ds = load_dataset(tmp_path / "sharded", memmap=memmap)
        assert isinstance(ds.flux, ShardedArray) == memmap and len(ds) == 23
        for name in ("flux", "weight", "mask", "wave"):
            np.testing.assert_array_equal(np.asarray(getattr(ds, name)), getattr(one, name), err_msg=name)
        assert ds.catalog.colnames == one.catalog.colnames
        for name in one.catalog.colnames:
            np.testing.assert_array_equal(ds.catalog[name], one.catalog[name], err_msg=name)
        assert ds.meta["seed"] == 1 and ds.meta["shards"] == 3
        valid, valid_one = ds.subset("valid"), one.subset("valid")
        np.testing.assert_array_equal(valid.flux, valid_one.flux)
        np.testing.assert_array_equal(valid.mask, valid_one.mask)
        assert valid.flux.dtype == np.float32
        ds.close()


def test_writer_resumes_from_good_shards_and_redoes_bad_ones(tmp_path):
    folder = tmp_path / "ds"
    _write_shards(folder, (10, 10, 3), stop=2)                          # "killed" after two shards
    with pytest.raises(NpvaeError, match="unfinished"):
        load_dataset(folder)
    assert ShardWriter(folder, PLAN, 3).todo == [2]
    data = (folder / shard_name(0)).read_bytes()
    (folder / shard_name(0)).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))   # one bit flipped
    (folder / ".shard-00002.fits.x.tmp.fits").write_bytes(b"half")      # a killed write's temporary
    writer = ShardWriter(folder, PLAN, 3)
    assert writer.todo == [0, 2] and "sha256" in writer.redone[0]
    assert not list(folder.glob(".*.tmp*"))
    flux, _, _, _ = _write_shards(folder, (10, 10, 3), writer=writer)
    assert read_manifest(folder)["complete"]
    np.testing.assert_array_equal(np.asarray(load_dataset(folder).flux), flux)


def test_writer_refuses_other_plans_and_foreign_folders(tmp_path):
    _write_shards(tmp_path / "ds", (10, 13))
    with pytest.raises(NpvaeError, match="n 23 now 24"):
        ShardWriter(tmp_path / "ds", {**PLAN, "n": 24}, 3)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(NpvaeError, match="not empty"):
        ShardWriter(tmp_path / "other", PLAN, 3)
    with pytest.raises(NpvaeError, match="without manifest.json"):
        load_dataset(tmp_path / "other")
    manifest = json.loads((tmp_path / "ds" / MANIFEST).read_text())
    manifest["shards"][1]["rows"] = 12
    (tmp_path / "ds" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(NpvaeError, match="shard-00001.fits: 13 spectra, the manifest says 12"):
        load_dataset(tmp_path / "ds")


def _mapped_kb(path):
    """Resident kB of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):                 # a mapping's header line
                inside = line.rstrip().endswith(str(path))
            elif inside and first == "Rss:":
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/smaps"), reason="needs Linux /proc")
def test_reading_random_rows_does_not_keep_the_shards_mapped(tmp_path):
    """Random minibatches over a whole epoch would map every shard page into the process."""
    from npvae.data import shards
    flux = np.random.default_rng(0).normal(size=(3000, 1000)).astype(np.float32)     # 12 MB
    write_dataset(tmp_path / "one.fits", flux, np.ones_like(flux), np.zeros(flux.shape, np.int32),
                  _catalog(3000))
    ds = load_dataset(tmp_path / "one.fits")
    lazy = ShardedArray([ds.flux])
    rows = np.random.default_rng(1).permutation(3000)
    for start in range(0, 3000, 64):                                      # one epoch of minibatches
        got = lazy[np.sort(rows[start:start + 64])]
        np.testing.assert_array_equal(got, flux[np.sort(rows[start:start + 64])])
    assert lazy._rows_since_release == 3000 % shards.RELEASE_ROWS
    mapped = _mapped_kb(tmp_path / "one.fits")
    assert mapped > 8000                                                  # read: the pages are mapped
    lazy.release()
    assert _mapped_kb(tmp_path / "one.fits") < 0.1 * mapped              # released from the process
    np.testing.assert_array_equal(lazy[rows[:64]], flux[rows[:64]])       # and still readable
    ds.close()


def test_a_sharded_folder_reads_its_rows_from_the_files_like_the_one_file_dataset(tmp_path):
    """Rows read with os.pread (RowFiles): any order, repeats, gaps, runs across shards, one shard's run."""
    flux, weight, mask, _ = _write_shards(tmp_path / "sharded", (10, 10, 3))
    ds = load_dataset(tmp_path / "sharded")
    rng = np.random.default_rng(8)
    keys = [slice(None), slice(2, 8), slice(8, 21), 0, -1, (7, slice(1, 4)), rng.integers(0, 23, 64),
            np.array([22, 0, 5, 5, 9, 1, 14, 13]), np.array([0, 6]), np.array([3, 2, 1, 0]),
            rng.random(23) < 0.3, np.zeros(0, int)]
    for name, whole in (("flux", flux), ("weight", weight), ("mask", mask)):
        lazy = getattr(ds, name)
        assert lazy.files is not None
        for key in keys:
            got = lazy[key]
            np.testing.assert_array_equal(got, whole[key], err_msg=f"{name} {key!r}")
            assert np.asarray(got).dtype.isnative
        picks = rng.random(23) < 0.5
        np.testing.assert_array_equal(lazy.select(picks)[1:-1], whole[picks][1:-1])
    ds.close()


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/smaps"), reason="needs Linux /proc")
def test_a_sharded_folder_maps_nothing_of_its_shards_while_rows_are_read(tmp_path):
    """An epoch of random minibatches from a loaded folder leaves none of the shards' pages in the process."""
    rng = np.random.default_rng(0)
    flux = rng.normal(size=(3000, 1000)).astype(np.float32)                   # 12 MB
    writer = ShardWriter(tmp_path / "ds", PLAN, 2)
    for index in range(2):
        rows = slice(1500 * index, 1500 * (index + 1))
        writer.add(write_shard(tmp_path / "ds", index, flux[rows], np.ones_like(flux[rows]),
                               np.zeros(flux[rows].shape, np.uint8), _catalog(1500)))
    ds = load_dataset(tmp_path / "ds")
    mapped = sum(_mapped_kb(tmp_path / "ds" / shard_name(i)) for i in range(2))   # headers, catalogues
    order = rng.permutation(3000)
    for start in range(0, 3000, 64):
        np.testing.assert_array_equal(ds.flux[order[start:start + 64]], flux[order[start:start + 64]])
    np.testing.assert_array_equal(ds.flux[:], flux)
    assert sum(_mapped_kb(tmp_path / "ds" / shard_name(i)) for i in range(2)) <= mapped + 64   # of 24,000 kB read
    ds.close()


def test_a_truncated_shard_is_named_when_its_rows_are_read(tmp_path):
    _write_shards(tmp_path / "ds", (10, 10, 3))
    ds = load_dataset(tmp_path / "ds")
    path = tmp_path / "ds" / shard_name(2)
    cut = tmp_path / "cut.fits"                                               # a new file: the old one stays
    cut.write_bytes(path.read_bytes()[:ds.flux.files.offsets[2] + 8])        # mapped whole; 2 floats of flux
    cut.replace(path)
    with pytest.raises(NpvaeError, match="shard-00002.fits: file ends before row"):
        ds.flux[21]
    ds.close()
