"""PNG and contact-sheet writers: real images rendered and read back with Pillow."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from cutout_cli.errors import InputError, OutputError
from cutout_cli.writers import grid as grid_mod
from cutout_cli.writers.grid import grid_layout, write_grid
from cutout_cli.writers.png import png_bytes, stretch_to_uint8, to_pil, write_png


def noise(shape=(41, 41), seed=0, sigma=1.0):
    return np.random.default_rng(seed).normal(0.0, sigma, shape)


def blob(shape=(41, 41), amplitude=200.0, width=3.0, seed=0):
    """Gaussian source at the array centre on unit-sigma noise."""
    height, width_px = shape
    y, x = np.mgrid[:height, :width_px]
    cy, cx = (height - 1) / 2, (width_px - 1) / 2
    source = amplitude * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
    return noise(shape, seed) + source


def read_png(path_or_bytes) -> Image.Image:
    if isinstance(path_or_bytes, bytes):
        path_or_bytes = io.BytesIO(path_or_bytes)
    with Image.open(path_or_bytes) as picture:
        picture.load()
        return picture


def leftovers(directory) -> list[str]:
    return [name for name in os.listdir(directory) if name.endswith(".tmp")]


# -- orientation -------------------------------------------------------------


def test_array_row_0_column_0_is_bottom_left(tmp_path):
    image = noise((20, 30), sigma=0.01)
    image[0, 0] = 100.0  # FITS (x, y) = (0, 0)
    path = write_png(tmp_path / "a.png", image, limits="minmax")
    pixels = np.asarray(read_png(path))
    assert pixels.shape == (20, 30)
    assert np.unravel_index(pixels.argmax(), pixels.shape) == (19, 0)  # bottom-left
    assert pixels[19, 0] == 255


def test_top_array_row_is_top_of_picture(tmp_path):
    image = noise((20, 30), sigma=0.01)
    image[-1, 12] = 100.0
    pixels = np.asarray(read_png(write_png(tmp_path / "a.png", image, limits="minmax")))
    assert np.unravel_index(pixels.argmax(), pixels.shape) == (0, 12)


def test_to_pil_is_grey_and_flipped():
    image = np.arange(12.0).reshape(3, 4)
    picture = to_pil(image, stretch="linear", limits="minmax")
    assert picture.mode == "L"
    assert picture.size == (4, 3)
    np.testing.assert_array_equal(np.asarray(picture), stretch_to_uint8(image, "linear", "minmax")[::-1])


# -- values ------------------------------------------------------------------


@pytest.mark.parametrize("stretch", ["asinh", "linear", "sqrt", "log"])
@pytest.mark.parametrize("limits", ["zscale", "minmax", "99.5%"])
def test_source_bright_background_dark(stretch, limits):
    out = stretch_to_uint8(blob(), stretch, limits)
    assert out.dtype == np.uint8 and out.shape == (41, 41)
    assert out[20, 20] >= 250
    background = np.median(out[:8, :8])
    # zscale keeps the sky noise inside the limits, so the log stretch (which
    # lifts faint values most) shows it light grey; the others leave it darker.
    margin = 30 if (stretch, limits) == ("log", "zscale") else 100
    assert background < out[20, 20] - margin


def test_default_rendering_shows_sky_dark_and_source_structure():
    """The default ("sky" limits, asinh): the sky dark but not black (its noise visible), the peak
    white and the core graded, not a flat white disc."""
    out = stretch_to_uint8(blob((150, 150), amplitude=100.0, width=15.0))
    assert out[75, 75] == 255
    assert 10 < np.median(out[:20, :20]) < 60
    core = out[60:91, 60:91]
    assert (core == 255).mean() < 0.05 and len(np.unique(core)) > 20


def test_nan_and_inf_render_black_and_do_not_set_limits():
    image = blob()
    image[0, :] = np.nan
    image[1, 0] = np.inf
    image[1, 1] = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = stretch_to_uint8(image, limits="minmax")
    assert (out[0, :] == 0).all() and out[1, 0] == 0 and out[1, 1] == 0
    assert out[20, 20] == 255  # the source, not +inf, sets vmax


def test_masked_entries_are_treated_as_nan():
    image = np.ma.masked_array(blob(), mask=False)
    image.mask[20, 20] = True
    out = stretch_to_uint8(image)
    assert out[20, 20] == 0 and out[20, 21] > 200


@pytest.mark.parametrize("limits", ["zscale", "minmax", "90%", (0.0, 1.0)])
def test_constant_and_all_nan_images_do_not_crash(limits):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may be printed
        constant = stretch_to_uint8(np.full((9, 7), 3.0), limits=limits)
        empty = stretch_to_uint8(np.full((9, 7), np.nan), limits=limits)
        single = stretch_to_uint8(np.array([[5.0]]), limits=limits)
        png_bytes(np.full((9, 7), np.nan))
    assert constant.dtype == np.uint8 and constant.shape == (9, 7)
    assert len(np.unique(constant)) == 1
    if not isinstance(limits, tuple):
        assert constant[0, 0] == 128  # collapsed limits: mid-grey
    assert (empty == 0).all()
    assert single.shape == (1, 1)


def test_explicit_limits_map_vmin_to_0_and_vmax_to_255():
    image = np.array([[-5.0, 10.0, 15.0, 20.0, 30.0, 99.0]])
    for stretch in ("asinh", "linear", "sqrt", "log"):
        out = stretch_to_uint8(image, stretch, (10.0, 30.0))
        assert out[0, 0] == 0 and out[0, 1] == 0
        assert out[0, 4] == 255 and out[0, 5] == 255
        assert 0 < out[0, 2] < out[0, 3] < 255
    linear = stretch_to_uint8(image, "linear", (10.0, 30.0))
    assert linear[0, 3] in (127, 128)


def test_minmax_spans_the_full_range():
    image = np.linspace(-3.0, 7.0, 50).reshape(5, 10)
    out = stretch_to_uint8(image, "linear", "minmax")
    assert out.min() == 0 and out.max() == 255
    assert (np.diff(out.ravel().astype(int)) >= 0).all()


def test_percentile_clips_the_extremes():
    image = np.arange(1000.0).reshape(10, 100)
    out = stretch_to_uint8(image, "linear", "90%")
    assert (out.ravel()[:50] == 0).all() and (out.ravel()[-50:] == 255).all()
    assert 0 < out.ravel()[500] < 255


@pytest.mark.parametrize(
    "stretch, limits",
    [("gamma", "zscale"), ("asinh", "zcale"), ("asinh", "0%"), ("asinh", "101%"), ("asinh", "x%"),
     ("asinh", (3.0, 3.0)), ("asinh", (5.0, 1.0)), ("asinh", (0.0, np.nan)), ("asinh", (1.0,))],
)
def test_bad_options_raise_input_error(stretch, limits):
    with pytest.raises(InputError):
        stretch_to_uint8(np.zeros((3, 3)), stretch, limits)


def test_to_pil_rejects_non_2d():
    with pytest.raises(InputError):
        to_pil(np.zeros((2, 3, 4)))
    with pytest.raises(InputError):
        to_pil(np.zeros((0, 5)))


def test_png_bytes_is_a_grey_png_equal_to_the_file(tmp_path):
    image = blob()
    data = png_bytes(image)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    picture = read_png(data)
    assert picture.mode == "L" and picture.size == (41, 41)
    path = write_png(tmp_path / "b.png", image)
    np.testing.assert_array_equal(np.asarray(read_png(path)), np.asarray(picture))


# -- atomic writing ----------------------------------------------------------


def test_existing_file_is_kept_without_overwrite(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"original")
    with pytest.raises(OutputError) as info:
        write_png(path, blob())
    assert "exists" in str(info.value) and "overwrite=True" in str(info.value)
    assert info.value.exit_code == 4
    assert path.read_bytes() == b"original"
    assert leftovers(tmp_path) == []


def test_existing_file_is_replaced_with_overwrite(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"original")
    write_png(path, blob(), overwrite=True)
    assert read_png(path).size == (41, 41)
    assert leftovers(tmp_path) == []


def test_written_file_gets_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_png(tmp_path / "p.png", blob())
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_directory_raises_output_error(tmp_path):
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot write"):
            write_png(directory / "x.png", blob())
        assert os.listdir(directory) == []
    finally:
        directory.chmod(0o755)


def test_missing_parent_directory_is_created(tmp_path):
    path = write_png(tmp_path / "new" / "dir" / "x.png", blob())
    assert read_png(path).size == (41, 41)


def test_parent_that_cannot_be_a_directory_raises_output_error(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError):
        write_png(tmp_path / "file" / "x.png", blob())
    assert leftovers(tmp_path) == []


def test_target_that_is_a_directory_raises_output_error(tmp_path):
    (tmp_path / "d.png").mkdir()
    with pytest.raises(OutputError):
        write_png(tmp_path / "d.png", blob(), overwrite=True)
    assert leftovers(tmp_path) == []


def _in_child_with_full_disk(action) -> str:
    """Run ``action()`` in a forked child whose files may not grow past 1 kB (RLIMIT_FSIZE, as a full
    disk; works even as root, unlike chmod); return the error message it raised, or ""."""
    import multiprocessing
    import resource
    import signal

    def child(queue):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        try:
            action()
            queue.put("")
        except OutputError as err:
            queue.put(str(err))

    queue = multiprocessing.get_context("fork").Queue()
    process = multiprocessing.get_context("fork").Process(target=child, args=(queue,))
    process.start()
    message = queue.get(timeout=60)
    process.join()
    return message


@pytest.mark.parametrize("overwrite", [True, False])
def test_failure_while_writing_leaves_no_temp_and_keeps_target(tmp_path, overwrite):
    """A disk filling up mid-write: an OutputError, no partial file, the earlier file kept."""
    kept, new = tmp_path / "kept.png", tmp_path / "new.png"
    kept.write_bytes(b"original")
    big = noise((200, 200))
    if overwrite:
        assert "File too large" in _in_child_with_full_disk(lambda: write_png(kept, big, overwrite=True))
        assert "File too large" in _in_child_with_full_disk(lambda: write_grid(kept, [("a", big)], overwrite=True))
    else:
        assert "File too large" in _in_child_with_full_disk(lambda: write_png(new, big))
        assert not new.exists()
    assert kept.read_bytes() == b"original"
    assert leftovers(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["kept.png"]


def test_non_os_error_propagates_and_cleans_up(tmp_path, monkeypatch):
    def broken(self, fp, *args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(KeyError):
        write_png(tmp_path / "x.png", blob())
    assert os.listdir(tmp_path) == []


# -- grid --------------------------------------------------------------------


def grid_panels(n=27, none_at=13):
    panels = []
    for i in range(n):
        side = 25 + 4 * i
        shape = (side, side) if i % 4 else (side, side // 2 + 9)  # some not square
        image = None if i == none_at else blob(shape, amplitude=100.0, width=side / 10, seed=i)
        panels.append((f"obj{i:02d}", image))
    return panels


def test_grid_of_27_panels(tmp_path):
    panels = grid_panels()
    path = write_grid(tmp_path / "grid.png", panels, panel_size=120)
    layout = grid_layout(27, panel_size=120)
    assert (layout.columns, layout.rows) == (6, 5)
    sheet = read_png(path)
    assert sheet.mode == "RGB"
    assert sheet.size == layout.size
    width, height = sheet.size
    assert 6 * 120 <= width <= 6 * 120 + 60
    assert 5 * 120 + 5 * 10 <= height <= 5 * (120 + 40)
    grey = np.asarray(sheet.convert("L")).astype(int)

    for index, (label, image) in enumerate(panels):
        left, top, right, bottom = layout.panel_box(index)
        panel = grey[top:bottom, left:right]
        if image is None:
            assert np.median(panel) < 100 and (panel > 0).all()  # dark grey, not black
        else:
            # Corners of the drawn image: inset by the letterbox of narrow panels.
            h, w = image.shape
            drawn_w = round(w * 120 / max(h, w))
            x0 = (120 - drawn_w) // 2
            centre = panel[50:70, 50:70].mean()
            corners = [panel[:15, x0 : x0 + 15], panel[-15:, x0 : x0 + 15], panel[:15, x0 + drawn_w - 15 : x0 + drawn_w]]
            assert centre > 200, label
            assert all(centre > corner.mean() + 60 for corner in corners), label
        l, t, r, b = layout.label_box(index)
        strip = grey[t:b, l:r]
        assert strip.max() >= 200 and strip.min() < 50, label  # white text on dark


def test_grid_is_north_up(tmp_path):
    image = noise((30, 30), sigma=0.01)
    image[25:, 3:8] = 50.0  # near the top-left of the sky, high array rows
    path = write_grid(tmp_path / "g.png", [("a", image)], panel_size=60, limits="minmax")
    layout = grid_layout(1, panel_size=60)
    left, top, right, bottom = layout.panel_box(0)
    panel = np.asarray(read_png(path).convert("L"))[top:bottom, left:right]
    assert panel[:8, 6:16].mean() > 200
    assert panel[-8:, 6:16].mean() < 100


def test_grid_title_and_layout_options(tmp_path):
    panels = grid_panels(5, none_at=-1)
    path = write_grid(tmp_path / "g.png", panels, columns=2, panel_size=64, title="my targets")
    layout = grid_layout(5, columns=2, panel_size=64, title="my targets")
    assert (layout.columns, layout.rows) == (2, 3) and layout.title_height > 0
    sheet = np.asarray(read_png(path).convert("L"))
    assert sheet.shape[::-1] == layout.size
    l, t, r, b = layout.title_box()
    assert sheet[t:b, l:r].max() >= 200
    # Asking for more columns than panels gives no empty columns.
    assert grid_layout(3, columns=10).columns == 3


def test_grid_overwrite_rule(tmp_path):
    path = tmp_path / "g.png"
    path.write_bytes(b"keep")
    with pytest.raises(OutputError, match="exists"):
        write_grid(path, grid_panels(3))
    assert path.read_bytes() == b"keep"
    write_grid(path, grid_panels(3), overwrite=True)
    assert read_png(path).mode == "RGB"
    assert leftovers(tmp_path) == []


def test_grid_errors(tmp_path):
    with pytest.raises(InputError, match="no panels to draw"):
        write_grid(tmp_path / "g.png", [])
    with pytest.raises(InputError):
        write_grid(tmp_path / "g.png", [("cube", np.zeros((2, 3, 4)))])
    with pytest.raises(InputError):
        write_grid(tmp_path / "g.png", grid_panels(2), columns=0)
    assert os.listdir(tmp_path) == []


def test_long_labels_are_shortened_to_fit():
    font, _ = grid_mod._fonts(64)
    text = grid_mod._fit("a very long label that cannot fit in a small panel", font, 58)
    assert text.endswith("...") and font.getlength(text) <= 58
    assert grid_mod._fit("ok", font, 58) == "ok"


# -- orientation from a WCS (more in test_orientation.py) --------------------


def _tan_wcs(cd):
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [53.0, -27.5]
    wcs.wcs.crpix = [21.0, 21.0]
    wcs.wcs.cd = np.array(cd, dtype=float) * (0.2 / 3600)
    return wcs


def test_mirrored_wcs_mirrors_the_plain_picture_exactly_and_says_so(tmp_path):
    image = blob(seed=3)
    image[30, 5] = 500.0  # off the symmetry axes
    plain = np.asarray(to_pil(image))
    mirrored = read_png(write_png(tmp_path / "m.png", image, wcs=_tan_wcs([[1, 0], [0, 1]])))
    np.testing.assert_array_equal(np.asarray(mirrored), plain[:, ::-1])  # east is +x: flip columns, no resampling
    assert "mirrored left-right" in mirrored.text["orientation"]
    standard = read_png(png_bytes(image, wcs=_tan_wcs([[-1, 0], [0, 1]])))
    np.testing.assert_array_equal(np.asarray(standard), plain)
    assert standard.text["orientation"] == "north up, east left: the array with row 0 at the bottom"


def test_grid_text_chunk_names_each_panel_s_orientation(tmp_path):
    panels = [("m", blob(), _tan_wcs([[1, 0], [0, 1]])), ("p", blob(seed=1)),
              ("s", blob(seed=2), _tan_wcs([[-1, 0], [0, 1]]))]
    text = read_png(write_grid(tmp_path / "g.png", panels, panel_size=64)).text["orientation"]
    assert "panels m: north up, east left: the array with row 0 at the bottom, mirrored left-right" in text
    assert "panels p: the array with row 0 at the bottom (no usable WCS" in text
    assert "panels s: north up, east left: the array with row 0 at the bottom" in text
