"""Columns kept in pieces read like the joined arrays: by slice, by index, whole, and in the FITS writer."""
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from npvae.apply import encode_spectra
from npvae.apply.columns import LatentColumns, PiecesColumn, SourceStrings
from npvae.apply.datarows import SourceColumn
from npvae.apply.spectra import encode_columns
from npvae.commands.encode import write_latents
from npvae.data.fitstable import FitsTable, write_fits
from npvae.synthetic.dataset import write_raw
from npvae.utils import NpvaeError

LENGTHS = (5, 1, 7, 3, 9)                                            # uneven pieces, 25 rows


def pieces_of(whole):
    """``whole`` (N, ...) cut into consecutive pieces of LENGTHS."""
    return np.split(whole, np.cumsum(LENGTHS)[:-1])


def sources():
    """A SourceColumn per piece (names of different lengths, one piece of several) and the joined strings."""
    columns = [SourceColumn.repeat(f"/s/shard-{i}" + "x" * i, n) for i, n in enumerate(LENGTHS)]
    columns[2] = SourceColumn.of(["a", "/longest/name/of/all.fits", "a", "b", "", "a", "c"])
    return columns, np.concatenate([c.strings() for c in columns])


@pytest.mark.parametrize("whole", [np.arange(25) * 1.5, np.arange(50, dtype=np.float32).reshape(25, 2),
                                   np.array(["a", "bb", "c", "", "d"] * 4 + ["eeeee", "f", "g", "h", "i"])])   # the widest last
def test_a_column_in_pieces_reads_like_the_joined_array(whole):
    pieces = pieces_of(whole)
    if whole.dtype.kind == "U":
        pieces = [p.astype(f"U{max(1, max(len(s) for s in p))}") for p in pieces]   # each piece its own width
    column = PiecesColumn(pieces)
    assert column.dtype == whole.dtype and column.shape == whole.shape and len(column) == 25
    np.testing.assert_array_equal(np.asarray(column), whole)
    for lo, hi in [(0, 25), (0, 5), (4, 6), (5, 6), (3, 21), (24, 25), (7, 7), (20, 99)]:
        part = column[lo:hi]
        assert part.dtype == whole.dtype
        np.testing.assert_array_equal(part, whole[lo:hi])
    index = np.array([24, 0, 5, 5, 6, 12, -1, 13, 15])
    np.testing.assert_array_equal(column[index], whole[index])


def test_source_strings_are_the_joined_source_column():
    columns, want = sources()
    joined = SourceStrings(SourceColumn.concatenate(columns))
    assert joined.dtype == want.dtype and len(joined) == 25
    np.testing.assert_array_equal(np.asarray(joined), want)
    np.testing.assert_array_equal(joined[3:17], want[3:17])
    np.testing.assert_array_equal(joined[np.array([7, 0, 24])], want[[7, 0, 24]])


def test_latent_columns_in_pieces_write_the_bytes_of_the_joined_table(tmp_path):
    rng = np.random.default_rng(0)
    whole = {"MU": rng.standard_normal((25, 3)).astype(np.float32), "ROW": np.arange(25),
             "CLASS": np.array(["GALAXY", "QSO", "STAR"])[rng.integers(0, 3, 25)]}
    columns, strings = sources()
    latents = LatentColumns({**{k: PiecesColumn(pieces_of(v)) for k, v in whole.items()},
                             "SOURCE": SourceStrings(SourceColumn.concatenate(columns))}, {"INFILL": "pca"})
    table = Table({**whole, "SOURCE": strings})
    assert latents.colnames == table.colnames and len(latents) == 25
    for name in table.colnames:
        np.testing.assert_array_equal(latents.table()[name], table[name])
    for rows in (4, 7, 1000):                                              # blocks across the pieces
        write_fits(tmp_path / "pieces.fits", fits.PrimaryHDU(), [FitsTable("LATENTS", latents.columns)], rows)
        write_fits(tmp_path / "joined.fits", fits.PrimaryHDU(), [FitsTable("LATENTS", dict(table.columns))], rows)
        assert (tmp_path / "pieces.fits").read_bytes() == (tmp_path / "joined.fits").read_bytes()
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(table)]).writeto(tmp_path / "astropy.fits")
    with fits.open(tmp_path / "pieces.fits") as ours, fits.open(tmp_path / "astropy.fits") as theirs:
        assert ours[1].data.tobytes() == theirs[1].data.tobytes()


def test_a_non_ascii_source_in_pieces_is_named_by_its_row(tmp_path):
    columns = [SourceColumn.repeat("/a.fits", 3), SourceColumn.repeat("/ä.fits", 2)]
    latents = {"SOURCE": SourceStrings(SourceColumn.concatenate(columns)), "ROW": PiecesColumn([np.arange(3), np.arange(2)])}
    with pytest.raises(NpvaeError, match="SOURCE row 3"):
        write_fits(tmp_path / "x.fits", fits.PrimaryHDU(), [FitsTable("LATENTS", latents)], rows=2)


def test_an_encode_written_from_its_pieces_is_the_file_of_its_joined_table(bundle, survey, tmp_path):
    """encode_columns (what `npvae encode` writes) against encode_spectra's Table: the same LATENTS bytes,
    raw files of different path lengths in chunks of 3 (several pieces, several sources per piece)."""
    _, model = bundle
    raw = write_raw(survey[:11], tmp_path / "raw")
    (raw / "deeper" / "and-longer-still").mkdir(parents=True)
    for path in sorted(raw.glob("*.fits"))[:4]:
        path.rename(raw / "deeper" / "and-longer-still" / path.name)
    columns = encode_columns(model, [raw], chunk=3)
    table = encode_spectra(model, [raw], chunk=3)
    assert isinstance(columns["MU"], PiecesColumn) and len(columns["MU"].pieces) == 4
    for name, source in (("pieces", columns), ("table", table)):
        write_latents(tmp_path / f"{name}.fits", source, [], {"MODEL": "m"})
    assert (tmp_path / "pieces.fits").read_bytes() == (tmp_path / "table.fits").read_bytes()
    assert len(set(table["SOURCE"])) == 11
    whole = encode_spectra(model, [raw], chunk=100)                     # one piece: the order as read
    for name in whole.colnames:
        np.testing.assert_array_equal(table[name], whole[name], err_msg=name)
