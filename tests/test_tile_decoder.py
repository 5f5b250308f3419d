"""The tile decoder (cutout_cli.fits.tiles.plane) gives cfitsio's pixels bit for bit, or leaves the plane to cfitsio.

Truth is fitsio's (cfitsio's) own read of the same section of real files
written by cfitsio with every supported encoding: RICE_1, GZIP_1, GZIP_2;
quantised floats with each dithering method, NaNs and exact zeros; lossless
floats and 32-bit integers; tiles that do not divide the image.  The decoder
is called directly (the reader would leave large boxes to cfitsio), with
tiles decoded in part and then whole, and through its fallback codec.
"""

import fitsio
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutout_cli.fits.tiles import codecs as tile_codecs, dequantize, plane as tiles
from cutout_cli.errors import DataError
from cutout_cli.fits.coadd import CoaddFile

HEIGHT, WIDTH = 250, 300  # 64 px tiles leave partial tiles on both edges; large tiles (over 128 x 128) too


def _float_image(seed=0):
    rng = np.random.default_rng(seed)
    image = rng.normal(10.0, 3.0, (HEIGHT, WIDTH)).astype("f4")
    image[5:9, 10:70] = np.nan  # NO_DATA-like holes: ZBLANK nulls
    image[100:104, 200:300] = 0.0  # exact zeros: SUBTRACTIVE_DITHER_2 keeps them
    return image


ENCODINGS = {
    "rice_dither2": (_float_image(), dict(compress="RICE", qlevel=16, qmethod="SUBTRACTIVE_DITHER_2", dither_seed=77)),
    "rice_dither1": (_float_image(1), dict(compress="RICE", qlevel=4, qmethod="SUBTRACTIVE_DITHER_1", dither_seed=9999)),
    "rice_no_dither": (_float_image(2), dict(compress="RICE", qlevel=8, qmethod="NO_DITHER")),
    "gzip1_dither1": (_float_image(3), dict(compress="GZIP", qlevel=16, qmethod="SUBTRACTIVE_DITHER_1", dither_seed=1)),
    "gzip2_dither2": (_float_image(4), dict(compress="GZIP_2", qlevel=16, qmethod="SUBTRACTIVE_DITHER_2", dither_seed=5)),
    "gzip2_lossless_float": (_float_image(5), dict(compress="GZIP_2", qlevel=None)),
    "gzip1_lossless_float": (_float_image(6), dict(compress="GZIP", qlevel=None)),
    "rice_int32": (np.random.default_rng(7).integers(-2**31, 2**31 - 1, (HEIGHT, WIDTH)).astype("i4"),
                   dict(compress="RICE")),
    "gzip2_int32_mask": (np.random.default_rng(8).integers(0, 2**12, (HEIGHT, WIDTH)).astype("i4"),
                         dict(compress="GZIP_2")),
}
TILES = {"square": [64, 64], "rectangular": [24, 40], "whole rows": [3, WIDTH], "large": [160, 200]}


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """{(encoding, tiling): path} of one-plane files written by cfitsio."""
    root = tmp_path_factory.mktemp("encoded")
    paths = {}
    for name, (array, options) in ENCODINGS.items():
        for tiling, tile_dims in TILES.items():
            path = root / f"{name}_{tiling.replace(' ', '_')}.fits"
            with fitsio.FITS(str(path), "rw", clobber=True) as out:
                out.write(None)
                out.write(array, extname="IMAGE", tile_dims=tile_dims, **options)
            paths[name, tiling] = path
    return paths


def _truth(path, rows, cols):
    with fitsio.FITS(str(path)) as f:
        return f["IMAGE"][rows, cols]


def _decoded(coadd, rows, cols, fresh=True):
    plane = coadd.plane_reader("IMAGE").tiled
    assert isinstance(plane, tiles.TiledPlane)  # the decoder reads this encoding, not cfitsio
    if fresh:
        plane.clear_cache()
    return plane.read(rows, cols)


@pytest.mark.parametrize("tiling", TILES)
@pytest.mark.parametrize("name", ENCODINGS)
def test_whole_plane_and_edge_boxes_equal_cfitsio(encoded, name, tiling):
    path = encoded[name, tiling]
    with CoaddFile(path) as coadd:
        for rows, cols in [(slice(0, HEIGHT), slice(0, WIDTH)), (slice(0, 1), slice(0, 1)),
                           (slice(HEIGHT - 1, HEIGHT), slice(WIDTH - 7, WIDTH)), (slice(3, 130), slice(60, 70))]:
            mine, truth = _decoded(coadd, rows, cols), _truth(path, rows, cols)
            assert mine.dtype == truth.dtype.newbyteorder("=")
            np.testing.assert_array_equal(mine, truth)  # NaN == NaN, and bit-exact floats
        # the reader (whichever it picks) gives the same
        np.testing.assert_array_equal(coadd.read_section("IMAGE", slice(0, HEIGHT), slice(0, WIDTH)),
                                      _truth(path, slice(0, HEIGHT), slice(0, WIDTH)))


boxes = st.tuples(st.integers(0, HEIGHT - 1), st.integers(0, WIDTH - 1), st.integers(1, HEIGHT), st.integers(1, WIDTH))


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(ENCODINGS)), tiling=st.sampled_from(sorted(TILES)),
       sequence=st.lists(boxes, min_size=1, max_size=3))
def test_any_boxes_in_a_row_equal_cfitsio(encoded, name, tiling, sequence):
    """Boxes read one after another: later ones meet tiles cached in part or whole by earlier ones."""
    with CoaddFile(encoded[name, tiling]) as coadd:
        _decoded(coadd, slice(0, 1), slice(0, 1))  # starts from an empty cache
        for y, x, h, w in sequence:
            rows, cols = slice(y, min(HEIGHT, y + h)), slice(x, min(WIDTH, x + w))
            np.testing.assert_array_equal(_decoded(coadd, rows, cols, fresh=False),
                                          _truth(encoded[name, tiling], rows, cols))


@pytest.mark.parametrize("name", ["rice_dither2", "rice_int32", "gzip1_dither1", "gzip2_int32_mask", "gzip2_dither2"])
def test_a_tile_is_decoded_only_down_to_the_rows_a_box_needs(encoded, name):
    with CoaddFile(encoded[name, "square"]) as coadd:
        plane = coadd.plane_reader("IMAGE").tiled
        plane.read(slice(10, 30), slice(10, 60))  # inside tile 0: rows 0-29 decoded
        assert plane.tiles_decoded == 1 and plane.cached_tiles[0].shape[-2:] == (30, 64)
        plane.read(slice(0, 20), slice(0, 64))  # within what is decoded: nothing new
        assert plane.tiles_decoded == 1
        np.testing.assert_array_equal(plane.read(slice(40, 50), slice(5, 15)),  # further down: decoded whole
                                      _truth(encoded[name, "square"], slice(40, 50), slice(5, 15)))
        assert plane.tiles_decoded == 2 and plane.cached_tiles[0].shape[-2:] == (64, 64)


def test_a_cached_tile_is_decoded_once(encoded):
    with CoaddFile(encoded["rice_dither2", "square"]) as coadd:
        plane = coadd.plane_reader("IMAGE").tiled
        plane.read(slice(0, 64), slice(10, 60))  # the whole of tile 0's rows
        plane.read(slice(20, 30), slice(40, 50))
        assert plane.tiles_decoded == 1
        plane.read(slice(60, 70), slice(60, 70))  # the corner of 4 tiles: 3 new
        assert plane.tiles_decoded == 4


def test_announced_boxes_have_each_tile_decoded_once(encoded):
    """A batch task announces its boxes (CoaddFile.expect): every tile is then decoded once, down to the
    last row any of them needs, instead of in part and again."""
    path = encoded["rice_dither2", "square"]
    boxes = [(slice(y, y + 9), slice(x, x + 9)) for y, x in ((2, 3), (20, 30), (50, 5), (70, 70), (60, 100))]
    with CoaddFile(path) as coadd:
        plane = coadd.plane_reader("IMAGE").tiled
        for rows, cols in boxes:  # unannounced: tile 0 is decoded down to row 11, then 29, then whole
            plane.read(rows, cols)
        unannounced = plane.tiles_decoded
        plane.clear_cache()
        plane.tiles_decoded = 0
        plane.expect(boxes)
        for rows, cols in boxes:
            np.testing.assert_array_equal(plane.read(rows, cols), _truth(path, rows, cols))
        touched = {index for rows, cols in boxes for index, *_ in plane.layout.table.pieces(rows, cols)}
        assert plane.tiles_decoded == len(touched) < unannounced
        assert plane.cached_tiles[0].shape == (59, 64)  # down to the last row the boxes need, not whole


def test_the_tile_cache_is_bounded(encoded, monkeypatch):
    monkeypatch.setattr(tiles, "TILE_CACHE_BYTES", 3 * 64 * 64 * 4)  # three raw 64 px tiles
    with CoaddFile(encoded["rice_dither2", "square"]) as coadd:
        plane = coadd.plane_reader("IMAGE").tiled
        plane.read(slice(0, HEIGHT), slice(0, WIDTH))
        assert plane.tiles_decoded == 20 and len(plane.cached_tiles) == 3


RICE = ["rice_dither2", "rice_dither1", "rice_no_dither", "rice_int32"]


@pytest.mark.parametrize("backend", sorted(tile_codecs.RICE_BACKENDS))
@pytest.mark.parametrize("tiling", TILES)
@pytest.mark.parametrize("name", RICE)
def test_every_rice_backend_gives_cfitsio_pixels(encoded, name, tiling, backend):
    """Each RICE_1 backend (cutout's own C decoder) gives cfitsio's pixels, stopping after the rows needed."""
    path = encoded[name, tiling]
    with CoaddFile(path) as coadd:
        plane = coadd.plane_reader("IMAGE").tiled
        lay = plane.layout
        plane.decoder = tile_codecs.TileDecoder(lay.compression, lay.stored, lay.tile_w * lay.tile_h, lay.blocksize,
                                                rice=backend)
        assert plane.decoder.partial
        for rows, cols in [(slice(0, HEIGHT), slice(0, WIDTH)), (slice(7, 31), slice(100, 160)), (slice(0, 2), slice(3, 4))]:
            np.testing.assert_array_equal(_decoded(coadd, rows, cols), _truth(path, rows, cols))


@pytest.mark.parametrize("name", RICE)
def test_without_the_compiled_decoder_cfitsio_reads_rice_planes(encoded, name, monkeypatch):
    """Where the C decoder was not built, no RICE_1 backend is left: cfitsio reads the plane, same pixels."""
    monkeypatch.setattr(tile_codecs, "RICE_BACKENDS", {})
    tile_codecs.rice_backend.cache_clear()
    try:
        assert not tile_codecs.can_decode("RICE_1")
        path = encoded[name, "square"]
        with CoaddFile(path) as coadd:
            assert coadd.plane_reader("IMAGE").tiled is None
            for rows, cols in [(slice(0, HEIGHT), slice(0, WIDTH)), (slice(7, 31), slice(100, 160))]:
                np.testing.assert_array_equal(coadd.read_section("IMAGE", rows, cols), _truth(path, rows, cols))
    finally:
        tile_codecs.rice_backend.cache_clear()


def test_cutout_decoder_is_built():
    """The C decoder compiles wherever the tests run (the fallbacks are tested above): a build that
    silently lost it would be slower, not wrong, so say so here."""
    assert tile_codecs.rice_backend()[0] == "cutout"


def _rice_stream(encoded, name="rice_int32", tile=0):
    with CoaddFile(encoded[name, "square"]) as coadd:
        plane = coadd.plane_reader("IMAGE").tiled
        stream = np.array(plane.compressed_bytes(tile))
        truth = _truth(encoded[name, "square"], slice(0, 64), slice(0, 64)).astype(np.int32) if name == "rice_int32" \
            else None
    return stream, truth


def test_decode_into_stops_where_asked_and_reads_only_its_input(encoded):
    from cutout_cli.fits.tiles import _rice

    stream, truth = _rice_stream(encoded)
    for n in (0, 1, 31, 32, 33, 1000, 64 * 64):
        out = np.full(64 * 64, 7, np.int32)
        used = _rice.decode_into(stream, out, n, 32)
        np.testing.assert_array_equal(out[:n], truth.reshape(-1)[:n])
        assert (out[n:] == 7).all() and used <= len(stream)
    unaligned = np.zeros(4 * 64 * 64 + 1, np.uint8)[1:]  # a buffer not on a 4-byte boundary
    _rice.decode_into(stream, unaligned, 64 * 64, 32)
    np.testing.assert_array_equal(unaligned.view(np.int32), truth.reshape(-1))


def test_a_stream_that_ends_inside_a_run_of_zeros_is_an_error():
    """A block code, one difference, then only zero bits to the end: the second difference never ends."""
    from cutout_cli.fits.tiles import _rice

    bits = "00001" + "0" * 10 + "1" + "0" * 64  # code 1 (fs 0): a difference of 10 zeros and a one; then nothing
    stream = np.frombuffer(bytes(4) + int(bits, 2).to_bytes(len(bits) // 8, "big"), np.uint8)
    out = np.empty(2, np.int32)
    assert _rice.decode_into(stream, out, 1, 32) <= len(stream) and out[0] == 5  # mapped 10: +5
    with pytest.raises(ValueError, match="ends before"):
        _rice.decode_into(stream, out, 2, 32)


@pytest.mark.parametrize("name", ["rice_int32", "rice_dither2"])
def test_decode_into_refuses_a_truncated_or_corrupt_stream(encoded, name):
    from cutout_cli.fits.tiles import _rice

    stream, _ = _rice_stream(encoded, name)
    out = np.empty(64 * 64, np.int32)
    for cut in (0, 3, 4, 5, len(stream) // 2, len(stream) - 1):
        with pytest.raises(ValueError, match="ends before"):
            _rice.decode_into(stream[:cut], out, 64 * 64, 32)
    corrupt = stream.copy()
    corrupt[4] = 0xFF  # the first block's 5-bit code becomes 31: no such code
    with pytest.raises(ValueError, match="invalid code"):
        _rice.decode_into(corrupt, out, 64 * 64, 32)
    with pytest.raises(ValueError, match="smaller"):
        _rice.decode_into(stream, np.empty(10, np.int32), 64 * 64, 32)
    with pytest.raises(ValueError, match="smaller"):  # n * 4 would overflow
        _rice.decode_into(stream, out, 2 ** 62, 32)
    with pytest.raises(ValueError):
        _rice.decode_into(stream, out, -1, 32)
    rng = np.random.default_rng(0)
    for _ in range(200):  # random damage: an error or some pixels, never a crash
        damaged = stream.copy()
        damaged[rng.integers(4, len(stream), 3)] = rng.integers(0, 256, 3)
        try:
            _rice.decode_into(damaged, out, 64 * 64, 32)
        except ValueError:
            pass


def test_cfitsio_reads_boxes_that_cover_most_of_their_tiles(encoded):
    """The reader takes the cheaper: the decoder for a small box, cfitsio for the whole plane."""
    with CoaddFile(encoded["rice_dither2", "large"]) as coadd:
        plane = coadd.plane_reader("IMAGE").tiled
        assert plane.cost(slice(10, 20), slice(10, 20)).ours_is_cheaper
        assert not plane.cost(slice(0, HEIGHT), slice(0, WIDTH)).ours_is_cheaper
        coadd.read_section("IMAGE", slice(0, HEIGHT), slice(0, WIDTH))
        assert plane.tiles_decoded == 0
        coadd.read_section("IMAGE", slice(10, 20), slice(10, 20))
        assert plane.tiles_decoded == 1


def test_a_tile_past_the_end_of_the_file_is_a_tile_error(encoded, tmp_path):
    """A whole file (its size as its headers say) whose last tile's descriptor points past its end."""
    path = tmp_path / "short.fits"
    source = encoded["rice_dither2", "square"]
    whole = bytearray(source.read_bytes())
    with CoaddFile(source) as coadd:
        table = coadd.plane_reader("IMAGE").tiled.layout.table
    with fitsio.FITS(str(source)) as f:
        data_start = f[1].get_info()["data_start"]
    last = table.n_tiles - 1
    descriptor = data_start + last * table.row_bytes + table.columns["COMPRESSED_DATA"].offset
    assert table.columns["COMPRESSED_DATA"].code == "P"
    whole[descriptor + 4:descriptor + 8] = np.int32(len(whole)).astype(">i4").tobytes()  # its heap offset
    path.write_bytes(bytes(whole))
    with CoaddFile(path) as coadd:
        plane = coadd.plane_reader("IMAGE").tiled
        plane.read(slice(0, 10), slice(0, 10))  # the first tile is there
        with pytest.raises(tiles.TileError, match="beyond the end"):
            plane.read(slice(HEIGHT - 10, HEIGHT), slice(WIDTH - 10, WIDTH))
        with pytest.raises(DataError, match="truncated or corrupt"):
            coadd.read_section("IMAGE", slice(HEIGHT - 10, HEIGHT), slice(WIDTH - 10, WIDTH))


def test_a_closed_file_says_so(encoded):
    coadd = CoaddFile(encoded["rice_dither2", "square"])
    coadd.read_section("IMAGE", slice(0, 10), slice(0, 10))
    coadd.close()
    with pytest.raises(DataError, match="closed"):
        coadd.read_section("IMAGE", slice(0, 10), slice(0, 10))


def test_a_corrupt_tile_is_a_tile_error(encoded, tmp_path):
    path = tmp_path / "corrupt.fits"
    path.write_bytes(encoded["rice_dither2", "square"].read_bytes())
    with CoaddFile(path) as coadd:
        plane = coadd.plane_reader("IMAGE").tiled
        start, count = plane.tile_location(0)
        with open(path, "r+b") as handle:  # garbage in the middle of tile 0's stream
            handle.seek(start + count // 2)
            handle.write(b"\xff" * 64)
        with pytest.raises(tiles.TileError, match="tile 0"):
            plane.read(slice(0, 64), slice(0, 64))


@pytest.mark.parametrize("options, tile_dims", [(dict(compress="PLIO"), [64, 64]), (dict(compress="HCOMPRESS"), [64, 64]),
                                                (dict(compress="RICE"), [1, WIDTH])])
def test_other_encodings_are_left_to_cfitsio(tmp_path, options, tile_dims):
    array = np.random.default_rng(3).integers(0, 2**10, (HEIGHT, WIDTH)).astype("i4")
    path = tmp_path / "other.fits"
    with fitsio.FITS(str(path), "rw", clobber=True) as out:
        out.write(None)
        out.write(array, extname="IMAGE", tile_dims=tile_dims, **options)
    with CoaddFile(path) as coadd:
        assert coadd.plane_reader("IMAGE").tiled is None
        np.testing.assert_array_equal(coadd.read("IMAGE", coadd.bbox), _truth(path, slice(0, HEIGHT), slice(0, WIDTH)))


def test_dither_offsets_are_the_conventions():
    """The first entries of the convention's table (Pence et al. 2010, as cfitsio's fits_init_randoms)."""
    offsets = dequantize.dither_offsets()
    assert len(offsets) == 10000 and 0 < offsets.min() and offsets.max() < 1
    # the Park-Miller generator (a = 16807, m = 2^31 - 1) from seed 1: 16807 / m, then 282475249 / m
    assert offsets[0] == np.float32(16807 / 2147483647) and offsets[1] == np.float32(282475249 / 2147483647)
