"""Machine and software description for the report header."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # not installed
        return "not installed"


def _command_output(argv) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _fitsio_build() -> str:
    """Which cfitsio fitsio runs on: a shared system library (ldd shows it) or the copy bundled in its wheel."""
    try:
        import glob

        import fitsio

        wrap = glob.glob(os.path.join(os.path.dirname(fitsio.__file__), "_fitsio_wrap*.so"))
        libs = _command_output(["ldd", wrap[0]]) if wrap else ""
    except Exception:
        return "unknown"
    for line in libs.splitlines():
        if "libcfitsio" in line:
            return "system " + line.split("=>")[-1].split("(")[0].strip()
    return "bundled (static, in the fitsio extension)"


def describe() -> dict:
    """CPU, cores, load, OS, Python and the versions of every library and tool the suite compares."""
    try:
        import fitsio

        cfitsio = fitsio.cfitsio_version()
    except Exception:
        cfitsio = "unknown"
    system_cfitsio = _command_output(["dpkg-query", "-W", "-f=${Version}", "libcfitsio10"]) or "unknown"
    hyperfine = _command_output(["hyperfine", "--version"]) if shutil.which("hyperfine") else "not installed"
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "numpy": _version("numpy"),
        "astropy": _version("astropy"),
        "fitsio": _version("fitsio"),
        "cfitsio (fitsio's)": cfitsio,
        "fitsio's cfitsio": _fitsio_build(),
        "cfitsio (imcopy's, Debian libcfitsio10)": system_cfitsio if shutil.which("imcopy") else "imcopy not installed",
        "astrocut": _version("astrocut"),
        "cutout-cli": _version("cutout-cli"),
        "hyperfine": hyperfine,
    }
