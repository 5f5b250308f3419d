"""What a batch is asked to do, as small frozen groups built from :func:`~.run.run_batch`'s keywords.

* :class:`TargetDefaults`: the size, band and dataset type of rows that do not give their own;
* :class:`CutoutOutputs`: what is read and written for each target (planes, mode, PNG, overwrite);
* :class:`RemoteReading`: how tasks read coadds in remote storage (ranged reads or downloads);
* :class:`Execution`: where tasks run (processes, a Dask cluster) and how large they are;
* :class:`Publishing`: what is made of the whole batch (a single file, colour pictures, a grid).

Each group validates its values, so a bad option fails before any work; the
errors name the keyword (``remote_read``), which the command line spells as
its flag (``--remote-read``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..cutouts.options import ReadOptions
from ..errors import InputError, python_spelling
from ..fits.planes import PLANES
from ..sky.box import DEFAULT_MAX_PIXELS
from ..sky.parse import Size, parse_size
from ..storage.remote import REMOTE_READ_MODES
from ..writers.lsst_images import OUTPUT_FORMATS
from ..writers.outputs import is_stdout, picture_format
from ..writers.grid import GRID_SCALES
from ..writers.png import DEFAULT_LIMITS, STRETCHES, Limits, check_picture_scale, stretch_text
from .plan import DEFAULT_CHUNK

__all__ = ["BatchOptions", "CutoutOutputs", "Execution", "Publishing", "RemoteReading", "TargetDefaults",
           "batch_options", "DEFAULT_CHUNK"]

def _positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{value!r} is not a positive integer", "give {} 1 or more", options=[(name, None)])


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise InputError(f"unknown value {value!r}", f"give {{}} one of {', '.join(choices)}",
                         options=[(name, None)])


@dataclass(frozen=True)
class TargetDefaults:
    """How the target list is read and values for rows without their own: ``size`` (a Size or text such as
    ``"60arcsec"``), ``band`` (one band, or several as ``"g,r,i"``: one cutout each) and the dataset type;
    ``format_in`` (the list's format, see :func:`~.target_formats.open_target_list`) and ``id_col``,
    ``ra_col``, ``dec_col`` (column names, when neither the name nor an alias is found)."""

    size: Size | str | None = None
    band: str | None = None
    dataset_type: str | None = None
    format_in: str | None = None
    id_col: str | None = None
    ra_col: str | None = None
    dec_col: str | None = None

    @property
    def columns(self) -> dict:
        """The column names given, by field (``{"ra": "RA_ICRS"}``)."""
        given = {"id": self.id_col, "ra": self.ra_col, "dec": self.dec_col}
        return {name: column for name, column in given.items() if column}

    def __post_init__(self):
        if self.size is not None and not isinstance(self.size, Size):
            object.__setattr__(self, "size", parse_size(self.size))


@dataclass(frozen=True)
class CutoutOutputs:
    """What each target gives: the planes read (:class:`~cutout_cli.cutouts.options.ReadOptions`),
    the FITS layout (``output_format``: ``afw`` or ``lsst-images``, :meth:`Cutout.writeto`), a PNG beside
    each FITS cutout (drawn with ``stretch``, ``limits`` and ``softening``, as in
    :func:`~cutout_cli.writers.png.stretch_to_uint8`), and whether finished outputs are redone."""

    planes: tuple = PLANES
    mode: str = "partial"
    max_pixels: int = DEFAULT_MAX_PIXELS
    png: bool = False
    stretch: str = "asinh"
    limits: Limits = DEFAULT_LIMITS
    softening: float | None = None
    overwrite: bool = False
    output_format: str = "afw"

    def __post_init__(self):
        object.__setattr__(self, "planes", self.read.planes)  # validated and upper-cased
        _choice("stretch", self.stretch, STRETCHES)  # the message names the keyword
        check_picture_scale(self.stretch, self.limits, self.softening)
        _choice("output_format", self.output_format, OUTPUT_FORMATS)

    @property
    def picture(self) -> str:
        """How the pictures are drawn, as their ``stretch`` text chunk and the manifest record it."""
        return stretch_text(self.stretch, self.limits, self.softening)

    @property
    def read(self) -> ReadOptions:
        return ReadOptions(planes=self.planes, mode=self.mode, max_pixels=self.max_pixels)


@dataclass(frozen=True)
class RemoteReading:
    """For coadds in remote storage: ``remote_read`` ``ranged`` (fetch the tiles under the boxes),
    ``download`` (copy each coadd to ``scratch_dir``, default the output directory, and cut it
    locally) or ``auto`` (download for tasks of at least ``download_threshold`` targets; 0: the
    default of :func:`cutout_cli.storage.remote.download_threshold`)."""

    remote_read: str = "auto"
    download_threshold: int = 0
    scratch_dir: str | None = None

    def __post_init__(self):
        _choice("remote_read", self.remote_read, REMOTE_READ_MODES)
        if self.download_threshold:
            _positive("download_threshold", self.download_threshold)
        if self.scratch_dir is not None:
            object.__setattr__(self, "scratch_dir", str(self.scratch_dir))


@dataclass(frozen=True)
class Execution:
    """Where tasks run: ``jobs`` local worker processes, or a Dask cluster (``scheduler`` address or
    ``scheduler_file``); ``chunk``: at most this many targets per task."""

    jobs: int = 1
    scheduler: str | None = None
    scheduler_file: str | None = None
    chunk: int = DEFAULT_CHUNK

    def __post_init__(self):
        _positive("jobs", self.jobs)
        _positive("chunk", self.chunk)

    @property
    def on_cluster(self) -> bool:
        return bool(self.scheduler or self.scheduler_file)


@dataclass(frozen=True)
class Publishing:
    """What is made of the whole batch: ``single_file`` (every cutout in one FITS file instead of a
    file per target), ``rgb`` (``<id>_rgb.png`` colour pictures of targets with two or three bands)
    and ``grid`` (a contact sheet of the first ``grid_max`` targets, titled ``grid_title``; ``grid_scale``
    ``shared``: one grey scale for every panel, ``panel``: each panel its own)."""

    grid: str | None = None
    grid_max: int = 100
    grid_title: str | None = None
    grid_scale: str = "shared"
    rgb: bool = False
    single_file: str | None = None

    def __post_init__(self):
        _positive("grid_max", self.grid_max)
        _choice("grid_scale", self.grid_scale, GRID_SCALES)
        if self.grid:
            picture_format(self.grid)  # a grid.tif is refused before any work
            if is_stdout(self.grid):
                raise InputError("a batch's grid is a file, not standard output", "give {} a file name",
                                 options=[("grid", "grid.png")])

    @property
    def grid_rows(self) -> int:
        """How many targets the grid shows (0 without a grid)."""
        return self.grid_max if self.grid else 0


@dataclass(frozen=True)
class BatchOptions:
    """Every option of a batch, by group; ``spell(parameter, value)`` writes an option named in an
    error message (a row's message in the manifest) as the caller gives it."""

    targets: TargetDefaults = field(default_factory=TargetDefaults)
    outputs: CutoutOutputs = field(default_factory=CutoutOutputs)
    remote_reading: RemoteReading = field(default_factory=RemoteReading)
    execution: Execution = field(default_factory=Execution)
    publishing: Publishing = field(default_factory=Publishing)
    spell: object = python_spelling


_GROUPS = {"targets": TargetDefaults, "outputs": CutoutOutputs, "remote_reading": RemoteReading,
           "execution": Execution, "publishing": Publishing}


def batch_options(*, spell=None, **keywords) -> BatchOptions:
    """:class:`BatchOptions` from :func:`~.run.run_batch`'s flat keywords (each names a field of one group)."""
    groups = {}
    for name, kind in _GROUPS.items():
        names = [f.name for f in fields(kind)]
        groups[name] = kind(**{key: keywords.pop(key) for key in names if key in keywords})
    if keywords:
        raise TypeError(f"run_batch() got unexpected keyword argument(s): {', '.join(sorted(keywords))}")
    publishing = groups["publishing"]
    pictures = [name for name, wanted in (("png", groups["outputs"].png), ("rgb", publishing.rgb)) if wanted]
    if publishing.single_file is not None and pictures:
        raise InputError("a single file holds FITS cutouts only: pictures need a file per target",
                         "drop {}, or drop {} to write a file per target",
                         options=[(pictures[0], None), ("single_file", None)])
    return BatchOptions(**groups, spell=spell or python_spelling)
