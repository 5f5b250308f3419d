"""Every bad input a cron job or pipeline can feed cutout, with the exit code and message users get.

Each case runs the real ``cutout`` program.  ``docs/errors.md`` is rendered from
this list (``python -m tests.bad_input_cases > docs/errors.md``) and a test
checks it is current, so every row of that table has a test.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .conftest import TARGET_11

RA11, DEC11 = TARGET_11


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    out: Path | None = None

    def manifest(self) -> list[dict]:
        csv.field_size_limit(16 * 1024 * 1024)
        with open(self.out / "manifest.csv", newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))


@dataclass
class Case:
    id: str
    category: str
    description: str
    code: int
    message: str
    run: object = field(repr=False)


CASES: list[Case] = []


def case(id, category, description, code, message):
    def register(run):
        CASES.append(Case(id, category, description, code, message, run))
        return run
    return register


class Env:
    """Runs the real CLI against a small repository, in a scratch folder; logs every stderr."""

    def __init__(self, repo, tmp: Path, log_dir: Path):
        self.repo, self.tmp, self.log_dir = repo, tmp, log_dir

    def write(self, name: str, text, mode="w") -> Path:
        path = self.tmp / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            with open(path, mode, newline="", encoding="utf-8") as handle:
                handle.write(text)
        return path

    def run(self, *args, repo=True, preexec_fn=None, out=None, env=None) -> Result:
        command = [sys.executable, "-m", "cutout_cli", *(["--repo", str(self.repo.root)] if repo else []),
                   *map(str, args)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=preexec_fn,
                              cwd=self.tmp, env={**os.environ, **env} if env else None)
        with open(self.log_dir / "stderr.log", "a", encoding="utf-8") as log:
            log.write(done.stderr)
        return Result(done.returncode, done.stdout, done.stderr, out)

    def batch(self, targets: Path, *extra, size="9", band="r") -> Result:
        out = self.tmp / "out"
        return self.run("batch", targets, *(["--size", size] if size else []), "--band", band, "--out", out,
                        *extra, out=out)

    def subset(self, *extra) -> Result:
        return self.run("subset", *extra)

    def broken_repo(self, repo_json=None, files=None) -> Path:
        root = self.tmp / "broken"
        root.mkdir(exist_ok=True)
        if repo_json is not None:
            (root / "repo.json").write_text(repo_json if isinstance(repo_json, str) else json.dumps(repo_json))
        for name, content in (files or {}).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(content) if isinstance(content, bytes) else (root / name).write_text(content)
        return root

    def butler(self, name="butler") -> Path:
        """A real Butler repository (lsst-daf-butler) of the small repository's coadds, made once per case."""
        from cutout_cli._sample.butler import build_butler_repo

        root = self.tmp / name
        if not root.exists():
            build_butler_repo(self.repo.root, root)
        return root

    def query(self, root, *extra, env=None) -> Result:
        return self.run("--repo", root, *extra, "query", "--pos", f"{RA11} {DEC11}", repo=False, env=env)

    def patch_file(self) -> Path:
        return Path(self.repo.expected_path(None, self.repo.home(RA11, DEC11), "r"))


def rows(*lines, header="id,ra,dec") -> str:
    return "\n".join([header, *lines]) + "\n"


GOOD = f"{RA11},{DEC11}"

# -- target lists --------------------------------------------------------------------
@case("T1", "target list", "no id/ra/dec columns", 2, "lacks column(s) id, ra, dec")
def _(env):
    return env.batch(env.write("t.csv", "x,y\n1,2\n"))


@case("T2", "target list", "misnamed column (label instead of id)", 2, "lacks column(s) id (found: label, ra, dec)")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD}", header="label,ra,dec")))


@case("T3", "target list", "empty file", 2, "is empty")
def _(env):
    return env.batch(env.write("t.csv", ""))


@case("T4", "target list", "header only", 2, "has no data rows")
def _(env):
    return env.batch(env.write("t.csv", "id,ra,dec\n"))


@case("T5", "target list", "non-numeric coordinate (row recorded, batch goes on)", 1, "cannot read RA 'abc'")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD}", "b,abc,-27.8")))


@case("T6", "target list", "NaN coordinate", 1, "RA 'nan' is not a finite number")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD}", "b,nan,-27.8")))


@case("T7", "target list", "infinite coordinate", 1, "Dec 'inf' is not a finite number")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD}", f"b,{RA11},inf")))


@case("T8", "target list", "Dec outside [-90, 90]", 1, "Dec 95 is outside [-90, 90]")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD}", f"b,{RA11},95")))


@case("T9", "target list", "RA outside [0, 360): wrapped (RA + 360 gives the same cutout)", 0, "")
def _(env):
    result = env.batch(env.write("t.csv", rows(f"a,{GOOD}", f"b,{RA11 + 360},{DEC11}", f"c,{RA11 - 360},{DEC11}")))
    a, b, c = (_pixels(result.out / f"{name}_r.fits") for name in "abc")
    assert a == b == c
    return result


@case("T10", "target list", "duplicate ids: unique file names, manifest keeps the id", 0, "")
def _(env):
    result = env.batch(env.write("t.csv", rows(f"dup,{GOOD}", f"dup,{GOOD}", f"Dup,{GOOD}")))
    manifest = result.manifest()
    assert [r["id"] for r in manifest] == ["dup", "dup", "Dup"]
    assert [Path(r["path"]).name for r in manifest] == ["dup_row1_r.fits", "dup_row2_r.fits", "Dup_row3_r.fits"]
    return result


@case("T11", "target list", "blank lines, UTF-8 BOM, Windows line endings", 0, "")
def _(env):
    result = env.batch(env.write("t.csv", b"\xef\xbb\xbfid,ra,dec\r\n\r\na," + GOOD.encode() + b"\r\n\r\n  \r\nb,"
                                 + GOOD.encode() + b"\r\n"))
    assert [r["id"] for r in result.manifest()] == ["a", "b"]
    return result


@case("T12", "target list", "very long line (a 300 000-character id)", 0, "")
def _(env):
    long_id = "x" * 300_000
    result = env.batch(env.write("t.csv", rows(f"{long_id},{GOOD}")))
    (row,) = result.manifest()
    assert row["id"] == long_id and Path(row["path"]).name == "x" * 80 + "_r.fits"
    return result


@case("T13", "target list", "10^6 rows (planned in seconds, --dry-run)", 0, "")
def _(env):
    path = env.tmp / "million.csv"
    with open(path, "w") as handle:
        handle.write("id,ra,dec\n")
        for i in range(1_000_000):
            handle.write(f"{i},{RA11 + (i % 1000) * 1e-5:.6f},{DEC11}\n")
    result = env.batch(path, "--dry-run", "--format", "json")
    assert "plan: 1000000 targets" in result.stderr and json.loads(result.stdout)
    return result


@case("T14", "target list", "size zero in the size column", 1, "size '0' must be a positive number")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD},9", f"b,{GOOD},0", header="id,ra,dec,size")))


@case("T15", "target list", "negative --size", 2, "size '-5' must be a positive number")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD}")), size="-5")


@case("T16", "target list", "absurd size (capped by --max-pixels)", 1, "exceeds the limit of 50,000,000 pixels")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD},9", f"b,{GOOD},5deg", header="id,ra,dec,size")))


@case("T17", "target list", "size in unknown units", 2, "cannot read size '5furlongs'")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD}")), size="5furlongs")


@case("T18", "target list", "no band given", 1, "no band (give --band or a band column)")
def _(env):
    return env.run("batch", env.write("t.csv", rows(f"a,{GOOD}")), "--size", "9", "--out", env.tmp / "out",
                   out=env.tmp / "out")


@case("T19", "target list", "RA in hours of 24 or more (sexagesimal degrees need a d mark)", 1,
      "hours, outside [0, 24)")
def _(env):
    return env.batch(env.write("t.csv", rows("a,53:19:07.65,-27:50:39")))


@case("T20", "target list", "two aliases of one field (ra_deg and RAJ2000)", 2,
      "has several ra columns (ra_deg, raj2000) (choose one with --ra-col)")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{RA11},{RA11},{DEC11}", header="id,ra_deg,RAJ2000,dec")))


@case("T21", "target list", "--ra-col names a column the list lacks", 2,
      "has no column 'RA_ICRS' (found: id, ra, dec) (give --ra-col one of the columns found)")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD}")), "--ra-col", "RA_ICRS")


@case("T22", "target list", "a .fits list that is not FITS", 2, "cannot read target list")
def _(env):
    return env.batch(env.write("t.fits", rows(f"a,{GOOD}")))


@case("T23", "target list", "--format-in astropy does not know", 2, "unknown target list format 'nosuch'")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD}")), "--format-in", "nosuch")


@case("T24", "target list", "a truncated .gz list", 2, "cannot read target list")
def _(env):
    import gzip

    packed = gzip.compress(rows(*[f"t{i},{GOOD}" for i in range(2000)]).encode())
    return env.batch(env.write("t.csv.gz", packed[: len(packed) // 2]))


# -- ids used in file names -----------------------------------------------------------
ID_CASES = {
    "I1": ("../x", "x_r.fits"),
    "I2": ("/etc/passwd", "etc_passwd_r.fits"),
    "I3": ("a/b", "a_b_r.fits"),
    "I4": ("..", "row4_r.fits"),
    "I5": ("", "row5_r.fits"),
    "I6": ("nul\x00byte", "nul_byte_r.fits"),
    "I7": ("new\nline", "new_line_r.fits"),
    "I8": ("é" * 3 + "Ω-Cen ü", "eee-Cen_u_r.fits"),
    "I9": ("CON", "row9_CON_r.fits"),
    "I10": ("x' / EVIL = 1", "x_EVIL_1_r.fits"),
    "I11": ("y" * 500, "y" * 80 + "_r.fits"),
}
ID_DESCRIPTIONS = {
    "I1": "id `../x` (path traversal)", "I2": "id `/etc/passwd` (absolute path)", "I3": "id `a/b`",
    "I4": "id `..`", "I5": "empty id", "I6": "id with a NUL byte", "I7": "id with a newline",
    "I8": "Unicode id", "I9": "id reserved on Windows (`CON`)",
    "I10": "id that tries to inject a FITS card (`x' / EVIL = 1`)", "I11": "500-character id",
}


def _id_batch(env):
    if getattr(env, "_id_result", None) is None:
        with open(env.tmp / "ids.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "ra", "dec"])
            for name, _ in ID_CASES.values():
                writer.writerow([name, RA11, DEC11])
        env._id_result = env.batch(env.tmp / "ids.csv")
    return env._id_result


def _make_id_case(key):
    original, filename = ID_CASES[key]

    def run(env):
        result = _id_batch(env)
        row = result.manifest()[int(key[1:]) - 1]
        assert row["id"] == original and row["status"] == "ok"
        path = Path(row["path"])
        assert path.name == filename and path.parent == result.out and path.exists()
        assert {p.name for p in env.tmp.iterdir()} <= {"ids.csv", "out"}  # nothing written outside --out
        from astropy.io import fits

        header = fits.getheader(path, 0)
        assert "EVIL" not in header
        assert header["TARGETID"] == "".join(c if " " <= c <= "~" and c != "'" else "?" for c in original)
        return result
    return run


for _key in ID_CASES:
    case(_key, "ids in file names", ID_DESCRIPTIONS[_key], 0, "")(_make_id_case(_key))


# -- repositories ---------------------------------------------------------------------
def _subset_in(env, root, *extra):
    return env.run("--repo", root, "subset", "--ra", RA11, "--dec", DEC11, "--size", "9", "--band", "r",
                   "-o", env.tmp / "c.fits", *extra, repo=False)


TEMPLATE = "deep_coadd/{tract}/{patch}/{band}/c.fits"


@case("R1", "repository", "no repo.json", 5, "repo.json does not exist")
def _(env):
    return _subset_in(env, env.broken_repo())


@case("R2", "repository", "malformed repo.json", 5, "cannot read")
def _(env):
    return _subset_in(env, env.broken_repo("{not json"))


@case("R3", "repository", "unknown skymap type", 5, "unknown skymap type 'hexagons'")
def _(env):
    return _subset_in(env, env.broken_repo({"skymap": {"type": "hexagons"}, "datasets": {"deep_coadd": TEMPLATE}}))


@case("R4", "repository", "template with an unknown field", 5, "unknown field(s) ['filter']")
def _(env):
    return _subset_in(env, env.broken_repo({"skymap": "lsst_cells_v1",
                                            "datasets": {"deep_coadd": "{tract}/{filter}.fits"}}))


@case("R5", "repository", "skymap file missing", 5, "does not exist (check the 'skymap' entry of repo.json)")
def _(env):
    return _subset_in(env, env.broken_repo({"skymap": "skymaps/none.json", "datasets": {"deep_coadd": TEMPLATE}}))


@case("R6", "repository", "dataset file missing", 3, "no deep_coadd for tract 5063")
def _(env):
    return _subset_in(env, env.broken_repo({"skymap": "lsst_cells_v1", "datasets": {"deep_coadd": TEMPLATE}}))


def _repo_with_file(env, content: bytes):
    root = env.broken_repo({"skymap": env.repo.config["skymap"] if isinstance(env.repo.config["skymap"], dict)
                            else json.loads((Path(env.repo.root) / env.repo.config["skymap"]).read_text()),
                            "datasets": {"deep_coadd": TEMPLATE}})
    patch = env.repo.home(RA11, DEC11)
    path = root / TEMPLATE.format(tract=patch.tract, patch=patch.index, band="r")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return root


@case("R7", "repository", "truncated FITS file", 5, "is truncated")
def _(env):
    data = env.patch_file().read_bytes()
    return _subset_in(env, _repo_with_file(env, data[: len(data) // 2]))


@case("R8", "repository", "not a FITS file", 5, "as FITS")
def _(env):
    return _subset_in(env, _repo_with_file(env, b"<html>404 not found</html>" * 200))


@case("R8b", "repository", "FITS file argument that does not exist", 3, "does not exist (check the path)")
def _(env):
    return env.run("subset", env.tmp / "missing.fits", "--box", "0,0,2,2", "-o", env.tmp / "x.fits", repo=False)


@case("R9", "repository", "FITS file without an image HDU", 5, "holds no 2-D image")
def _(env):
    import numpy as np
    from astropy.io import fits

    path = env.tmp / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "E", array=np.ones(3))])]
                 ).writeto(path)
    return _subset_in(env, _repo_with_file(env, path.read_bytes()))


@case("R10", "repository", "image without a celestial WCS (sky request)", 5, "has no celestial WCS")
def _(env):
    import numpy as np
    from astropy.io import fits

    path = env.tmp / "nowcs.fits"
    fits.PrimaryHDU(np.zeros((50, 50), "f4")).writeto(path)
    return env.run("subset", path, "--ra", "10", "--dec", "10", "--size", "5", "-o", env.tmp / "c.fits", repo=False)


@case("R11", "repository", "compressed HDU with a damaged tile", 5, "may be truncated or corrupt")
def _(env):
    from .test_tiles import poison_tiles

    root = _repo_with_file(env, env.patch_file().read_bytes())
    poison_tiles(next(root.rglob("c.fits")), keep=set())
    return _subset_in(env, root)


@case("R12", "repository", "position in no tract (explicit skymap)", 3, "is in no tract of skymap")
def _(env):
    tract = env.repo.skymap.tract(5063)
    root = env.broken_repo({"skymap": {"type": "explicit", "name": "one", "tracts": [
        {"id": 1, "wcs": tract.wcs_header, "bbox": [0, 0, 1000, 1000], "patch_inner_dimensions": [500, 500]}]},
        "datasets": {"deep_coadd": TEMPLATE}})
    return env.run("--repo", root, "subset", "--ra", "200", "--dec", "40", "--size", "9", "--band", "r",
                   "-o", env.tmp / "c.fits", repo=False)


@case("R13", "repository", "position in a tract with no data", 3, "no deep_coadd for tract")
def _(env):
    return env.subset("--ra", "150", "--dec", "2", "--size", "9", "--band", "r", "-o", env.tmp / "c.fits")


# -- Butler sources -----------------------------------------------------------------
@case("B1", "Butler", "unknown collection", 2, "has no collection 'no/such' (its collections: LSSTComCam/DP1")
def _(env):
    return env.query(env.butler(), "--collections", "no/such")


@case("B2", "Butler", "several top-level collections, none chosen", 2,
      "has 2 collections holding deep_coadd: LSSTComCam/DP1, u/me/mine (choose with --collections")
def _(env):
    from lsst.daf.butler import Butler, CollectionType

    root = env.butler()
    with Butler(str(root), writeable=True) as butler:
        butler.registry.registerCollection("u/me/mine", CollectionType.CHAINED)
        butler.registry.setCollectionChain("u/me/mine", ["LSSTComCam/runs/DP1/sample"])
    return env.query(root)


@case("B3", "Butler", "dataset type absent", 2, "unknown dataset type 'calexp' (this repository has: deep_coadd)")
def _(env):
    return env.run("--repo", env.butler(), "query", "calexp", "--pos", f"{RA11} {DEC11}", repo=False)


@case("B4", "Butler", "ChainedDatastore, lsst-daf-butler not installed", 5,
      "its datastore is ChainedDatastore, not one FileDatastore; cutout reads such repositories through "
      "lsst-daf-butler, which is not installed (pip install 'cutout-cli[butler]'")
def _(env):
    config = env.butler() / "butler.yaml"
    config.write_text(config.read_text().replace("fileDatastore.FileDatastore", "chainedDatastore.ChainedDatastore"))
    return env.query(env.butler(), env=without_daf_butler(env.tmp))


@case("B5", "Butler", "registry manager version unknown, lsst-daf-butler not installed", 5,
      "its collections manager is SynthIntKeyCollectionManager 9.0.0 (cutout reads SynthIntKeyCollectionManager 2.x)")
def _(env):
    return env.query(_future_registry(env), env=without_daf_butler(env.tmp))


@case("B6", "Butler", "registry manager version unknown to lsst-daf-butler too", 5,
      "lsst-daf-butler cannot read")
def _(env):
    return env.query(_future_registry(env))


def _future_registry(env) -> Path:
    """A Butler repository whose collections manager claims a schema version nobody knows yet."""
    with sqlite3.connect(env.butler() / "gen3.sqlite3") as db:
        db.execute("UPDATE butler_attributes SET value = '9.0.0' WHERE name LIKE 'version:%SynthIntKey%'")
    return env.butler()


@case("B7", "Butler", "registry row whose file is missing", 3, "is registered but its file")
def _(env):
    root = env.butler()
    for path in root.rglob("*.fits"):
        path.unlink()
    return env.run("--repo", root, "subset", "--ra", RA11, "--dec", DEC11, "--size", "9", "--band", "r",
                   "-o", env.tmp / "c.fits", repo=False)


@case("B8", "Butler", "damaged _butler_zip_index.json", 5, "cannot read the artifact index")
def _(env):
    return env.query(env.broken_repo(files={"_butler_zip_index.json": '{"index_version": "V1", "refs": {}}'}))


@case("B9", "Butler", "--collections for a repo.json repository", 2,
      "is not a Butler repository: it has no collections (leave out --collections for it)")
def _(env):
    return env.query(env.repo.root, "--collections", "LSSTComCam/DP1")


@case("B10", "Butler", "butler.yaml that is not YAML", 5, "cannot read")
def _(env):
    return env.query(env.broken_repo(files={"butler.yaml": "datastore: [unclosed\n"}))


# -- lsst.images files ----------------------------------------------------------------
def _lsst_images_file(env, kind: str) -> Path:
    """A file of ``kind`` written by the real lsst-images package (tests/lsst_images_files.py)."""
    from .lsst_images_files import write_files

    return write_files(env.tmp / "lsst_images", [kind])[kind]


@case("L1", "lsst.images", "sky request on a file whose projection has no FITS form, starlink-pyast not installed",
      5, "its exact sky projection (an AST mapping) needs starlink-pyast")
def _(env):
    path = _lsst_images_file(env, "astonly")
    return env.run("subset", path, "--ra", RA11, "--dec", DEC11, "--size", "20", "-o", env.tmp / "c.fits",
                   repo=False, env=without_package(env.tmp, "starlink"))


@case("L2", "lsst.images", "--output-format lsst-images for a box partly outside the image", 2,
      "is not wholly inside the source image: lsst.images files hold only pixels of the data")
def _(env):
    path = _lsst_images_file(env, "masked_gzip2")
    x0, y0 = (v - 10 for v in _image_origin(path))
    return env.run("subset", path, "--box", f"{x0},{y0},30,30", "-o", env.tmp / "c.fits",
                   "--output-format", "lsst-images", repo=False)


@case("L3", "lsst.images", "--output-format lsst-images, lsst-images not installed", 5,
      "writing lsst.images files needs the lsst-images package")
def _(env):
    path = _lsst_images_file(env, "masked_gzip2")
    return env.run("subset", path, "--ra", RA11, "--dec", DEC11, "--size", "20", "-o", env.tmp / "c.fits",
                   "--output-format", "lsst-images", repo=False, env=without_package(env.tmp, "lsst.images"))


@case("L4", "lsst.images", "damaged pointer to the JSON tree (JSONADDR)", 5, "cannot read its lsst.images JSON tree")
def _(env):
    path = _lsst_images_file(env, "masked_gzip2")
    with open(path, "r+b") as handle:
        primary = handle.read(2880)
        at = primary.index(b"JSONADDR=")
        handle.seek(at + 10)
        handle.write(b"%20d" % 2880)
    return env.run("subset", path, "--ra", RA11, "--dec", DEC11, "--size", "20", "-o", env.tmp / "c.fits", repo=False)


def _image_origin(path) -> tuple[int, int]:
    """PARENT pixel of a file's first IMAGE pixel (its A WCS)."""
    from astropy.io import fits

    header = fits.getheader(path, "IMAGE")
    return int(header["CRVAL1A"]), int(header["CRVAL2A"])


def without_package(tmp: Path, package: str) -> dict:
    """Environment variables under which ``import <package>`` fails, as where an optional extra is not
    installed (a ``sitecustomize`` that refuses the import of ``package`` and its submodules)."""
    site = tmp / f"no_{package.replace('.', '_')}"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {package!r} or name.startswith({package + '.'!r}):\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, _Refuse())\n")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)}


def without_daf_butler(tmp: Path) -> dict:
    """Environment variables under which ``import lsst.daf.butler`` fails."""
    return without_package(tmp, "lsst.daf")


# -- outputs --------------------------------------------------------------------------
@case("O1", "outputs", "output directory missing (created)", 0, "")
def _(env):
    result = env.subset("--ra", RA11, "--dec", DEC11, "--size", "9", "--band", "r", "-o", env.tmp / "new/dir/c.fits")
    assert (env.tmp / "new/dir/c.fits").exists()
    return result


@case("O2", "outputs", "output directory not writable", 4, "cannot write")
def _(env):
    locked = env.tmp / "locked"
    locked.mkdir()
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        import pytest

        pytest.skip("this filesystem cannot make a directory immutable (chattr +i)")
    try:
        result = env.subset("--ra", RA11, "--dec", DEC11, "--size", "9", "--band", "r", "-o", locked / "c.fits")
        assert list(locked.iterdir()) == []
        return result
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)


def _small_disk():
    """In the child: files may not grow past 20 kB (RLIMIT_FSIZE), like a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


@case("O3", "outputs", "disk full while writing (no partial file, earlier output kept)", 4, "File too large")
def _(env):
    earlier = env.tmp / "c.fits"
    earlier.write_bytes(b"earlier result")
    result = env.run("subset", "--ra", RA11, "--dec", DEC11, "--size", "200", "--band", "r", "-o", earlier,
                     "--overwrite", preexec_fn=_small_disk)
    assert earlier.read_bytes() == b"earlier result"
    assert [p.name for p in env.tmp.iterdir()] == ["c.fits"]
    return result


@case("O4", "outputs", "existing file without --overwrite", 4, "exists (pass --overwrite to replace it)")
def _(env):
    (env.tmp / "c.fits").write_bytes(b"keep me")
    result = env.subset("--ra", RA11, "--dec", DEC11, "--size", "9", "--band", "r", "-o", env.tmp / "c.fits")
    assert (env.tmp / "c.fits").read_bytes() == b"keep me"
    return result


@case("O5", "outputs", "batch interrupted (SIGKILL), then rerun: see tests/test_batch_scale.py::"
      "test_sigkill_midway_then_rerun", 0, "")
def _(env):
    return env.batch(env.write("t.csv", rows(f"a,{GOOD}")))


# -- boxes ----------------------------------------------------------------------------
def _patch_box(env, box, *extra):
    patch = env.repo.home(RA11, DEC11)
    return env.subset("--tract", patch.tract, "--patch", patch.index, "--band", "r", "--box", box, "--origin",
                      "local", "-o", env.tmp / "c.fits", *extra)


@case("B1", "boxes", "box partly outside the patch (partial mode: NaN / NO_DATA)", 0, "extends beyond the data")
def _(env):
    return _patch_box(env, "230,230,20,20")


@case("B2", "boxes", "box partly outside the patch, --mode strict", 3, "is not wholly inside the image")
def _(env):
    return _patch_box(env, "230,230,20,20", "--mode", "strict")


@case("B3", "boxes", "box wholly outside the patch", 3, "lies wholly outside the image")
def _(env):
    return _patch_box(env, "1000,1000,20,20")


@case("B4", "boxes", "zero-size box", 2, "both must be at least 1 pixel")
def _(env):
    return _patch_box(env, "10,10,0,5")


@case("B5", "boxes", "box crossing the tract edge (outside pixels NaN / NO_DATA)", 0, "extends beyond the data")
def _(env):
    from astropy.io import fits

    from .conftest import make_small_repo

    tract = env.repo.skymap.tract(5063)
    x = next(x for x in range(0, 3000, 5)  # the first column whose home tract is 5063: its inner boundary
             if env.repo.skymap.find_tract(*(float(v) for v in tract.pixel_to_sky(x, 500.0))).id == 5063)
    ra, dec = (float(v) for v in tract.pixel_to_sky(x + 2.0, 500.0))
    repo = make_small_repo(env.tmp / "edge", [(ra, dec)])
    patch = repo.home(ra, dec)
    size = 2 * x + 45  # reaches 20 px past the tract's edge
    result = env.run("--repo", repo.root, "subset", "--ra", ra, "--dec", dec, "--size", size, "--band", "r",
                     "-o", env.tmp / "c.fits", repo=False)
    with fits.open(env.tmp / "c.fits") as cut:
        image, mask = cut["IMAGE"].data, cut["MASK"].data
        x0, y0 = cut["IMAGE"].header["CRVAL1A"], cut["IMAGE"].header["CRVAL2A"]
    assert x0 < 0, "the box must cross the tract's pixel edge x = 0"
    inside = patch.outer.to_local((x0, y0))
    rows, cols = inside.slices()
    assert not np.isnan(image[rows, cols]).any()
    outside = np.ones(image.shape, bool)
    outside[rows, cols] = False
    assert np.isnan(image[outside]).all() and (mask[outside] == 1 << 8).all()
    return result


# -- the service --------------------------------------------------------------------
@case("S1", "serve", "port already in use", 2, "cannot listen on 127.0.0.1:")
def _(env):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        return env.run("serve", "--port", taken.getsockname()[1])


@case("S2", "serve", "a token shorter than 16 characters", 2, "token(s) shorter than 16 characters")
def _(env):
    return env.run("serve", "--port", 0, "--token-file", env.write("tokens.txt", "# team\nshort\n"))


@case("S3", "serve", "a token file that does not exist", 2, "cannot read the token file")
def _(env):
    return env.run("serve", "--port", 0, "--token-file", env.tmp / "absent.txt")


def _pixels(path):
    from astropy.io import fits

    with fits.open(path) as hdul:
        return hdul["IMAGE"].data.tobytes()


def render_table() -> str:
    """The Markdown table of docs/errors.md."""
    lines = ["# Bad input: what users get", "",
             "Every case below is run as a real `cutout` process by `tests/test_bad_input.py`",
             "(rendered from `tests/bad_input_cases.py`: `python -m tests.bad_input_cases > docs/errors.md`).",
             "Exit codes: 0 ok, 1 some batch rows failed (the message is in `manifest.csv`), 2 usage error,",
             "3 not found, 4 output refused or failed, 5 bad repository or file. Errors are one line on stderr,",
             "`cutout: error: <message> (<fix>)`; never a traceback.", "",
             "| case | input | exit code | message (stderr, or the manifest row) |", "|---|---|---|---|"]
    for c in CASES:
        message = f"`{c.message}`" if c.message else "(none: handled)"
        lines.append(f"| {c.id} | {c.category}: {c.description} | {c.code} | {message} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_table())
