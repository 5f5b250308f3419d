"""A real Butler repository (lsst-daf-butler) holding the coadds of a ``repo.json`` repository.

Used as the tests' truth and by ``make sample`` (``sample_butler/``)::

    python -m cutout_cli._sample.butler SOURCE DEST [--force]

Conventions:

* Dimension universe of the installed lsst-daf-butler (8 for 29.x/30.x).  The
  ``skymap`` record carries the source skymap's name (any name: it need not be
  an ``lsst.skymap`` preset); one ``tract`` record per tract holding a file,
  one ``patch`` record per patch holding a file (``cell_x``, ``cell_y`` are the
  patch grid position).  Regions are ``lsst.sphgeom.ConvexPolygon`` through the
  pixel-edge corners (``begin - 0.5`` .. ``end - 0.5``, PARENT pixels) of the
  patch OUTER box / the tract bbox, mapped through the tract WCS, as the
  Butler's own skymap registration does.
* ``band`` is a view of ``physical_filter``: each band present gets an
  ``instrument`` row (default ``LSSTComCam``) and a ``physical_filter`` row
  (the ComCam name, e.g. ``r_03``; ``<band>_03`` for bands ComCam lacks).
* Dataset type ``deep_coadd`` (skymap, tract, patch, band; storage class
  ``ExposureF``); dataset ids are deterministic (``DATAID_TYPE_RUN``: the same
  data id in the same run always gets the same UUID).
* Runs are searched in chain order, first = newest: a data id present in two
  runs of the chain resolves to the first run's dataset (shadowing).
* lsst.obs.base is not needed: the file datastore imports the ExposureF
  formatter class by name at ingest, so a stand-in module of that name (which
  cannot read) is put on ``lsst.__path__`` for the duration of a build and
  removed afterwards.  Reading pixels through this Butler needs the real
  lsst.obs.base; the records, URIs and files are those of a real repository.

lsst.daf.butler is imported inside the functions, so this module imports without it.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_CHAIN", "DEFAULT_RUN", "DATASET_TYPE", "SourceFile", "source_files", "build_butler_repo",
           "retrieve_artifacts", "ingest_zip", "zip_index",
           "tract_polygon", "physical_filter_name", "formatter_stand_in", "butler_script", "main"]

DATASET_TYPE = "deep_coadd"
DEFAULT_RUN = "LSSTComCam/runs/DP1/sample"
DEFAULT_CHAIN = "LSSTComCam/DP1"
DEFAULT_INSTRUMENT = "LSSTComCam"
_INSTRUMENT_CLASS = "lsst.obs.lsst.LsstComCam"
_COMCAM_FILTERS = {"u": "u_02", "g": "g_01", "r": "r_03", "i": "i_06", "z": "z_03", "y": "y_04"}
_FORMATTER_MODULE = "lsst.obs.base.formatters.fitsExposure"
_FORMATTER_SOURCE = '''"""Stand-in for lsst.obs.base's FitsExposureFormatter (cutout_cli._sample.butler): ingest only."""
from lsst.daf.butler import FormatterV2


class FitsExposureFormatter(FormatterV2):
    default_extension = ".fits"
    supported_extensions = frozenset({".fits", ".fits.gz", ".fits.fz", ".fz", ".fit"})
    can_read_from_local_file = True

    def read_from_local_file(self, path, component=None, expected_size=-1):
        raise NotImplementedError("stand-in formatter: install lsst.obs.base to read ExposureF datasets")

    def write_local_file(self, in_memory_dataset, uri):
        raise NotImplementedError("stand-in formatter: install lsst.obs.base to write ExposureF datasets")
'''


@dataclass(frozen=True)
class SourceFile:
    """One coadd of the source repository: its data id (tract, patch index, band) and absolute path."""

    tract: int
    patch: int
    band: str
    path: Path


def physical_filter_name(band: str) -> str:
    """The LSSTComCam physical filter of a band (``r`` -> ``r_03``); ``<band>_03`` for other bands."""
    return _COMCAM_FILTERS.get(band, f"{band}_03")


def butler_script() -> str:
    """The ``butler`` command of this Python environment (next to ``sys.executable``), else the one on PATH."""
    candidate = Path(sys.executable).parent / "butler"
    return str(candidate) if candidate.exists() else (shutil.which("butler") or "butler")


# -- the source repository ------------------------------------------------------------
def _template_matcher(template: str, skymap_name: str):
    """(glob pattern, regex) of a ``deep_coadd`` path template; the regex has groups tract, patch or
    patch_x/patch_y, band.  ``*`` (a run glob) matches within one path element."""
    pieces = re.split(r"(\{[a-z_]+\}|\*)", template)
    pattern, regex, seen = "", "", set()
    for piece in pieces:
        if piece == "{skymap}":
            pattern += glob.escape(skymap_name)
            regex += re.escape(skymap_name)
        elif piece.startswith("{") and piece.endswith("}") or piece == "*":
            pattern += "*"
            name = piece[1:-1]
            if piece == "*":
                regex += "[^/]*"
            elif name in seen:
                regex += f"(?P={name})"
            else:
                seen.add(name)
                regex += f"(?P<{name}>-?[0-9]+)" if name != "band" else "(?P<band>[^/]+)"
        else:
            pattern += glob.escape(piece)
            regex += re.escape(piece)
    return pattern, re.compile(regex + "$")


def source_files(source, dataset_type: str = DATASET_TYPE) -> list[SourceFile]:
    """Every coadd file of the ``repo.json`` repository at ``source`` (a local folder), found by globbing
    its dataset template; sorted by (tract, patch, band).  With a run glob (``*``) in the template the
    last path in sorted order wins, as in :class:`~cutout_cli.repository.templates.TemplateRegistry`."""
    from ..repository import Repository

    repo = Repository(os.fspath(source))
    root = Path(repo.root).resolve()
    pattern, regex = _template_matcher(repo.registry.templates[dataset_type], repo.skymap.name)
    found = {}
    for path in sorted(glob.glob(pattern, root_dir=root)):
        match = regex.match(Path(path).as_posix())
        if match is None:
            continue
        fields = match.groupdict()
        tract = int(fields["tract"])
        if "patch" in fields:
            patch = int(fields["patch"])
        else:
            patch = repo.skymap.tract(tract).patch((int(fields["patch_x"]), int(fields["patch_y"]))).index
        found[(tract, patch, fields["band"])] = root / path
    return [SourceFile(t, p, b, path) for (t, p, b), path in sorted(found.items())]


def _skymap_hash(repo) -> bytes:
    """SHA-1 of the skymap's definition: the preset's or the inline parameters, or the skymap file's text."""
    from ..sky.skymap import PRESETS

    spec = repo.config["skymap"]
    if isinstance(spec, dict):
        text = json.dumps(spec, sort_keys=True)
    elif str(spec) in PRESETS:
        text = json.dumps(PRESETS[str(spec)], sort_keys=True)
    else:
        text = repo.storage.read_text(repo.storage.join(str(spec)))
    return hashlib.sha1(text.encode()).digest()


# -- the stand-in formatter -----------------------------------------------------------
@contextlib.contextmanager
def formatter_stand_in():
    """Make ``lsst.obs.base.formatters.fitsExposure.FitsExposureFormatter`` importable while inside.

    Yields a folder to put on ``PYTHONPATH`` for ``butler`` subprocesses (it holds
    ``lsst/obs/base/formatters/fitsExposure.py``; ``lsst`` itself has no ``__init__.py``
    there, so the installed ``lsst`` namespace stays in charge), or None when the real
    lsst.obs.base is installed.  The folder, the ``lsst.__path__`` entry and the imported
    stand-in modules are removed on exit.
    """
    import importlib
    import importlib.util

    import lsst

    try:
        real = importlib.util.find_spec(_FORMATTER_MODULE) is not None
    except ImportError:
        real = False
    if real:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="cutout-obs-base-"))
    package = folder / "lsst" / "obs" / "base" / "formatters"
    package.mkdir(parents=True)
    for level in (package.parent.parent, package.parent, package):
        (level / "__init__.py").write_text("")
    (package / "fitsExposure.py").write_text(_FORMATTER_SOURCE)
    entry = str(folder / "lsst")
    lsst.__path__.append(entry)
    importlib.invalidate_caches()
    try:
        yield folder
    finally:
        with contextlib.suppress(ValueError):
            lsst.__path__.remove(entry)
        for name in [n for n in sys.modules if n == "lsst.obs" or n.startswith("lsst.obs.")]:
            del sys.modules[name]
        shutil.rmtree(folder, ignore_errors=True)


# -- building -------------------------------------------------------------------------
def _prepare_dest(dest: Path, force: bool) -> None:
    """Refuse an existing ``dest`` unless ``force``; with ``force`` remove it, but only an empty folder or a
    Butler repository (holding ``butler.yaml``), never another folder."""
    if not dest.exists() and not dest.is_symlink():
        return
    if not force:
        raise FileExistsError(f"{dest} exists: give --force (force=True) to replace it")
    if dest.is_dir() and not dest.is_symlink() and any(dest.iterdir()) and not (dest / "butler.yaml").exists():
        raise FileExistsError(f"{dest} is not a Butler repository (no butler.yaml): not removing it")
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    else:
        dest.unlink()


def _normalise_runs(runs, files: list[SourceFile]) -> list[tuple[str, list[SourceFile]]]:
    """``runs`` as [(run name, files)], newest first (see :func:`build_butler_repo`)."""
    if runs is None:
        return [(DEFAULT_RUN, files)]
    by_id = {(f.tract, f.patch, f.band): f for f in files}
    result = []
    for run, selection in runs:
        if selection is None:
            chosen = list(files)
        elif callable(selection):
            chosen = [f for f in files if selection(f)]
        else:
            chosen = []
            for item in selection:
                if isinstance(item, SourceFile):
                    chosen.append(item)
                elif len(item) == 4:
                    chosen.append(SourceFile(int(item[0]), int(item[1]), str(item[2]), Path(item[3]).resolve()))
                elif tuple(item) in by_id:
                    chosen.append(by_id[tuple(item)])
                else:
                    raise ValueError(f"run {run}: no source file for (tract, patch, band) {tuple(item)}")
        result.append((str(run), chosen))
    if len({run for run, _ in result}) != len(result):
        raise ValueError("run names must be distinct")
    return result


def tract_polygon(tract):
    """The tract's region: a sphgeom ConvexPolygon through the pixel-edge corners of its bbox."""
    from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

    b = tract.bbox
    ras, decs = tract.pixel_to_sky([b.begin_x - 0.5, b.end_x - 0.5, b.end_x - 0.5, b.begin_x - 0.5],
                                   [b.begin_y - 0.5, b.begin_y - 0.5, b.end_y - 0.5, b.end_y - 0.5])
    return ConvexPolygon([UnitVector3d(LonLat.fromDegrees(float(r), float(d))) for r, d in zip(ras, decs)])


def _dimension_records(butler, repo, files: list[SourceFile], instrument: str) -> None:
    """Insert skymap, tract, patch, instrument and physical_filter records for ``files``."""
    from ..sky.regions import patch_polygon

    skymap = repo.skymap
    tracts = {t: skymap.tract(t) for t in sorted({f.tract for f in files})}
    patches = sorted({(f.tract, f.patch) for f in files})
    registry = butler.registry
    registry.insertDimensionData("skymap", {
        "name": skymap.name, "hash": _skymap_hash(repo), "tract_max": len(skymap),
        "patch_nx_max": max(t.num_patches[0] for t in tracts.values()),
        "patch_ny_max": max(t.num_patches[1] for t in tracts.values())})
    registry.insertDimensionData("tract", *[
        {"skymap": skymap.name, "id": t, "region": tract_polygon(tract)} for t, tract in tracts.items()])
    records = []
    for t, p in patches:
        patch = tracts[t].patch(p)
        records.append({"skymap": skymap.name, "tract": t, "id": p, "cell_x": patch.x, "cell_y": patch.y,
                        "region": patch_polygon(tracts[t], patch)})
    registry.insertDimensionData("patch", *records)
    registry.insertDimensionData("instrument", {
        "name": instrument, "visit_max": 0, "visit_system": 0, "exposure_max": 0, "detector_max": 0,
        "class_name": _INSTRUMENT_CLASS})
    registry.insertDimensionData("physical_filter", *[
        {"instrument": instrument, "name": physical_filter_name(b), "band": b} for b in sorted({f.band for f in files})])


def _ingest_run(butler, dataset_type, skymap_name: str, run: str, files: list[SourceFile], transfer) -> None:
    """Register ``run`` and ingest ``files`` into it with deterministic (DATAID_TYPE_RUN) ids."""
    from lsst.daf.butler import DatasetIdGenEnum, DatasetRef, FileDataset

    butler.registry.registerRun(run)
    datasets = []
    for f in files:
        data_id = butler.registry.expandDataId(skymap=skymap_name, tract=f.tract, patch=f.patch, band=f.band)
        ref = DatasetRef(dataset_type, data_id, run=run, id_generation_mode=DatasetIdGenEnum.DATAID_TYPE_RUN)
        datasets.append(FileDataset(path=str(Path(f.path).resolve()), refs=[ref]))
    if datasets:
        butler.ingest(*datasets, transfer=transfer)


def build_butler_repo(source, dest, *, runs=None, chain: str = DEFAULT_CHAIN, transfer: str | None = "link",
                      instrument: str = DEFAULT_INSTRUMENT, force: bool = False) -> Path:
    """Make a real Butler repository at ``dest`` holding the ``deep_coadd`` files of ``source``.

    Parameters
    ----------
    source : path
        A local ``repo.json`` repository (:class:`~cutout_cli.repository.Repository`).
    dest : path
        The new Butler repository's folder.  An existing one is refused
        (FileExistsError) unless ``force``; ``force`` removes an empty folder or
        a Butler repository, never another folder.
    runs : sequence of (run name, selection), optional
        The RUN collections, in chain order: FIRST = NEWEST (searched first, so it
        shadows the same data id in later runs).  Default: one run
        ``LSSTComCam/runs/DP1/sample`` holding every file.  A selection is
        None (every source file), a callable ``selection(SourceFile) -> bool``, or an
        iterable of ``(tract, patch, band)`` (a source file), ``(tract, patch, band,
        path)`` (any file for that data id, e.g. an altered copy) or
        :class:`SourceFile` items.
    chain : str
        The CHAINED collection over the runs.
    transfer : str or None
        Butler ingest transfer mode: ``link`` (hard link, else symlink, into the
        datastore), ``symlink``, ``copy``, ``direct`` (record the absolute source URI)...
    instrument : str
        Instrument of the physical_filter rows that make ``band`` queryable.

    Returns
    -------
    Path
        ``dest``, absolute.  Dimension records are made for every file of every run.
    """
    from lsst.daf.butler import Butler, CollectionType, DatasetType

    from ..repository import Repository

    dest = Path(dest).absolute()
    files = source_files(source)
    plan = _normalise_runs(runs, files)
    every = [f for _, chosen in plan for f in chosen]
    if not every:
        raise ValueError(f"no {DATASET_TYPE} files to ingest from {source}")
    _prepare_dest(dest, force)
    repo = Repository(os.fspath(source))
    Butler.makeRepo(str(dest))
    try:
        with formatter_stand_in(), Butler(str(dest), writeable=True) as butler:
            _dimension_records(butler, repo, every, instrument)
            dataset_type = DatasetType(DATASET_TYPE, ["skymap", "tract", "patch", "band"], "ExposureF",
                                       universe=butler.dimensions)
            butler.registry.registerDatasetType(dataset_type)
            for run, chosen in plan:
                _ingest_run(butler, dataset_type, repo.skymap.name, run, chosen, transfer)
            butler.registry.registerCollection(chain, CollectionType.CHAINED)
            butler.registry.setCollectionChain(chain, [run for run, _ in plan])
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # no half-built repository left behind
        raise
    return dest


# -- the butler command line ----------------------------------------------------------
def _run_butler(args: list[str], pythonpath=None) -> subprocess.CompletedProcess:
    """Run the ``butler`` command; RuntimeError with its stderr when it fails."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([butler_script(), *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"butler {args[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done


def retrieve_artifacts(repo, dest, *, collections, where: str, zip: bool = False, preserve_path: bool = True,
                       transfer: str = "copy", dataset_type: str = DATASET_TYPE, skymap: str | None = None,
                       find_first: bool = True) -> Path:
    """Run ``butler retrieve-artifacts REPO DEST/`` and return what it wrote.

    ``collections`` is a name or a list (searched in order; ``find_first``: only the
    first collection's dataset of a data id, as a chain resolves shadowing); ``where``
    a Butler query expression (``"band = 'r' AND patch = 33"``).  An expression naming
    ``tract`` or ``patch`` must constrain ``skymap`` too (the command refuses it
    otherwise): give ``skymap`` to have ``skymap = '<name>' AND (where)`` sent.  Without ``zip``: returns the folder ``dest``
    holding the files (datastore layout, or flat without ``preserve_path``) and
    ``_butler_zip_index.json``.  With ``zip``: returns the one ``<uuid>.zip`` written
    into ``dest`` (members stored uncompressed, the index among them).  ``transfer``
    defaults to ``copy`` (the command's default may hard-link).
    """
    dest = Path(dest).absolute()
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.zip"))
    names = [collections] if isinstance(collections, str) else list(collections)
    if skymap is not None:
        where = f"skymap = '{skymap}'" + (f" AND ({where})" if where.strip() else "")
    args = ["retrieve-artifacts", os.fspath(repo), f"{dest}{os.sep}", "--where", where, "-d", dataset_type,
            "--find-first" if find_first else "--no-find-first"]
    for name in names:
        args += ["--collections", name]
    args += ["--zip"] if zip else ["-t", transfer, "--preserve-path" if preserve_path else "--no-preserve-path"]
    _run_butler(args)
    if not zip:
        return dest
    written = sorted(set(dest.glob("*.zip")) - before)
    if len(written) != 1:
        raise RuntimeError(f"butler retrieve-artifacts --zip wrote {len(written)} zip files into {dest}")
    return written[0]


def zip_index(zip_path) -> dict:
    """The ``_butler_zip_index.json`` of a zip written by ``retrieve-artifacts --zip``."""
    import zipfile

    with zipfile.ZipFile(zip_path) as archive:
        return json.loads(archive.read("_butler_zip_index.json"))


def zip_index_bands(zip_path) -> list[str]:
    """The bands of the datasets a retrieve-artifacts zip holds (from its index's compact refs)."""
    refs = zip_index(zip_path)["refs"]["compact_refs"].values()
    return sorted({ref["data_id"]["band"] for ref in refs if "band" in ref["data_id"]})


def ingest_zip(zip_path, new_repo, *, instrument: str = DEFAULT_INSTRUMENT, transfer: str = "auto") -> Path:
    """``butler create NEW_REPO`` + ``butler ingest-zip NEW_REPO ZIP --transfer-dimensions``, then the
    instrument and physical_filter rows of the bands present (``band`` queries need them).  Returns the
    new repository's folder.  The zip's datasets keep their ids and run."""
    from lsst.daf.butler import Butler

    new_repo = Path(new_repo).absolute()
    with formatter_stand_in() as pythonpath:
        if not (new_repo / "butler.yaml").exists():
            _run_butler(["create", new_repo], pythonpath)
        _run_butler(["ingest-zip", new_repo, Path(zip_path).absolute(), "--transfer-dimensions",
                     "--transfer", transfer], pythonpath)
    bands = zip_index_bands(zip_path)
    with Butler(str(new_repo), writeable=True) as butler:
        if bands:
            butler.registry.syncDimensionData("instrument", {
                "name": instrument, "visit_max": 0, "visit_system": 0, "exposure_max": 0, "detector_max": 0,
                "class_name": _INSTRUMENT_CLASS})
            for band in bands:
                butler.registry.syncDimensionData(
                    "physical_filter", {"instrument": instrument, "name": physical_filter_name(band), "band": band})
    return new_repo


def main(argv=None) -> int:
    """``python -m cutout_cli._sample.butler SOURCE DEST [--force]``; exit 2 when DEST exists."""
    parser = argparse.ArgumentParser(prog="python -m cutout_cli._sample.butler",
                                     description="Build a real Butler repository from a repo.json repository.")
    parser.add_argument("source", help="folder holding repo.json (e.g. sample_repo)")
    parser.add_argument("dest", help="new Butler repository folder (e.g. sample_butler)")
    parser.add_argument("--force", action="store_true", help="replace DEST when it is a Butler repository")
    parser.add_argument("--run", default=DEFAULT_RUN, help=f"RUN collection [default: {DEFAULT_RUN}]")
    parser.add_argument("--chain", default=DEFAULT_CHAIN, help=f"CHAINED collection [default: {DEFAULT_CHAIN}]")
    parser.add_argument("--transfer", default="link", help="ingest transfer mode [default: link]")
    args = parser.parse_args(argv)
    import time

    from ..errors import CutoutError

    start = time.perf_counter()
    try:
        dest = build_butler_repo(args.source, args.dest, runs=[(args.run, None)], chain=args.chain,
                                 transfer=args.transfer, force=args.force)
    except (FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except CutoutError as err:  # a missing or malformed source repository
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    count = len(source_files(args.source))
    print(f"ingested {count} {DATASET_TYPE} file(s) into {dest} ({args.chain} -> {args.run}) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
