"""Render ``results.json`` as the Markdown report: machine, goals, then one section per benchmark."""

from __future__ import annotations

from . import config
from .reads import TOOLS
from .timing import fmt_time

GOALS_HELP = {
    "read": "library read <= 1.3x the fitsio floor, every variant and size",
    "section": "50 px, 3 planes: >= 3x faster than astropy .section (square tiles), >= 1.5x (1-row tiles)",
    "full": "50 px, 3 planes: >= 20x faster than astropy full read + Cutout2D (every tile-compressed variant)",
    "subset": "`cutout subset` (300 px, 3 planes) <= 1.25x `python -c \"import astropy.wcs, fitsio, numpy\"`",
    "help": "`cutout --help` <= 3x `python -c \"import click, rich\"`",
    "batch": "batch: --jobs 1 >= 2.5x astrocut and >= 0.7x the floor; --jobs 2 >= 1.7x --jobs 1",
    "lsst_floor": "lsst.images files: one box (3 planes, file opened each time) <= 1.3x the fitsio floor",
    "lsst_read": "lsst.images files: one box >= 3x faster than lsst.images read_archive(path, bbox=)",
}


def _cell(stat: dict, floor: float | None = None) -> str:
    if not stat or "median" not in stat:
        return (stat or {}).get("error", "n/a")
    text = f"{fmt_time(stat['median'])} ±{fmt_time(stat['iqr'] / 2)}"
    if floor:
        text += f" **{stat['median'] / floor:.2f}×**"
    if stat.get("identical") is False:
        text += " ≠"
    return text


BUSY = 0.3  # cores used by other work above which a measurement is flagged


def _status(ok: bool | None, other_cores: float | None = None) -> str:
    text = "n/a" if ok is None else ("met" if ok else "**NOT met**")
    if other_cores is not None and other_cores > BUSY:
        text += f" ⚠ other work used {other_cores:.1f} cores"
    return text


def _load(value: float | None) -> str:
    return "?" if value is None else (f"**{value:.2f}** ⚠" if value > BUSY else f"{value:.2f}")


def goals(results: dict) -> list[tuple[str, str, str, str]]:
    """(goal, measured, status, what the floors would give) rows derived from the results."""
    rows = []
    reads = results.get("reads")
    alt = (results.get("reads_alt_floor") or {}).get("results", {})
    if reads:
        worst = max(((r[str(s)]["cutout"]["median"] / r[str(s)]["fitsio"]["median"], v, s)
                     for v, r in reads.items() for s in config.BOX_SIZES), default=None)
        if worst:
            rows.append((GOALS_HELP["read"], f"worst {worst[0]:.2f}× ({worst[1]}, {worst[2]} px)",
                         _status(worst[0] <= 1.3), ""))
        for variant in config.VARIANTS:
            row = reads.get(variant.name, {}).get("50")
            if not row or variant.tiled == "none":
                continue
            lib = row["cutout"]["median"]
            need = 3.0 if variant.tiled == "square" else 1.5
            floor = row["fitsio"]["median"]
            other = alt.get(variant.name, {}).get("50", {}).get("median")
            sec, full = row["astropy_section"]["median"], row["astropy_full"]["median"]
            rows.append((f"50 px vs astropy .section, {variant.label} (>= {need}×)", f"{sec / lib:.2f}×",
                         _status(sec / lib >= need),
                         f"{sec / floor:.2f}×" + (f" / {sec / other:.2f}×" if other else "")))
            rows.append((f"50 px vs full read + Cutout2D, {variant.label} (>= 20×)", f"{full / lib:.0f}×",
                         _status(full / lib >= 20),
                         f"{full / floor:.0f}×" + (f" / {full / other:.0f}×" if other else "")))
    proc = results.get("process")
    if proc:
        t = proc["times"]
        if "cutout subset" in t and "import astropy.wcs, fitsio, numpy" in t:
            r = t["cutout subset"]["median"] / t["import astropy.wcs, fitsio, numpy"]["median"]
            rows.append((GOALS_HELP["subset"], f"{r:.2f}×", _status(r <= 1.25), ""))
        if "cutout --help" in t and "import click, rich" in t:
            r = t["cutout --help"]["median"] / t["import click, rich"]["median"]
            rows.append((GOALS_HELP["help"], f"{r:.2f}×", _status(r <= 3.0), ""))
    batch = results.get("batch")
    if batch:
        c = batch["contenders"]
        serial = c.get("cutout --jobs 1") or c.get("cutout (default, serial)")
        floor, astro = c.get("fitsio floor"), c.get("astrocut (IMAGE only)")
        if serial and astro:
            r = serial["rate"] / astro["rate"]
            f = f"{floor['rate'] / astro['rate']:.2f}×" if floor else ""
            rows.append(("batch: serial cutout >= 2.5× astrocut's rate", f"{r:.2f}×", _status(r >= 2.5), f))
        if serial and floor:
            r = serial["rate"] / floor["rate"]
            rows.append(("batch: serial cutout >= 0.7× the raw fitsio floor", f"{r:.2f}×", _status(r >= 0.7), ""))
        if "cutout --jobs 2" in c and serial:
            par = c["cutout --jobs 2"]
            r = par["rate"] / serial["rate"]
            text = f"{r:.2f}× (medians)"
            if "quiet_rate" in par and "quiet_rate" in serial:
                q = par["quiet_rate"] / serial["quiet_rate"]
                loads = (serial.get("quiet_other_cores"), par.get("quiet_other_cores"))
                text += f"; {q:.2f}× on the quietest runs (others' load {_load(loads[0])} / {_load(loads[1])} cores)"
            rows.append(("batch: --jobs 2 >= 1.7× --jobs 1", text, _status(r >= 1.7, par.get("other_cores")), ""))
        elif serial:
            rows.append(("batch: --jobs 2 >= 1.7× --jobs 1", "`cutout batch` has no --jobs option", _status(False), ""))
        rows += _memory_goals(batch.get("memory") or {})
    rows += _lsst_images_goals(results.get("lsst_images") or {})
    return rows


def _lsst_images_goals(section: dict) -> list[tuple[str, str, str, str]]:
    """The two goals of the lsst.images section (issue 15): its worst (file, box) for each."""
    cases = [(name, size, r) for name, f in (section.get("files") or {}).items()
             for size, r in f["boxes"].items() if "skipped" not in r]
    if not cases:
        return []
    floor = max((r["cutout"]["median"] / r["fitsio"]["median"], name, size) for name, size, r in cases)
    speed = min((r["lsst_images"]["median"] / r["cutout"]["median"], name, size) for name, size, r in cases)
    return [(GOALS_HELP["lsst_floor"], f"worst {floor[0]:.2f}× ({floor[1]}, {floor[2]} px)", _status(floor[0] <= 1.3), ""),
            (GOALS_HELP["lsst_read"], f"worst {speed[0]:.1f}× ({speed[1]}, {speed[2]} px)", _status(speed[0] >= 3.0), "")]


def _memory_goals(memory: dict) -> list[tuple[str, str, str, str]]:
    """Peak RSS of 100 000 targets against 1 000, per --jobs value measured at both counts."""
    rows = []
    for jobs in (1, 2):
        small, large = memory.get(f"1000 targets, --jobs {jobs}"), memory.get(f"100000 targets, --jobs {jobs}")
        if small and large:
            r = large["max_rss_mib"] / small["max_rss_mib"]
            rows.append((f"batch: peak RSS of 100 000 targets <= 1.2× 1 000 (--jobs {jobs})",
                         f"{r:.2f}× ({large['max_rss_mib']:.0f} / {small['max_rss_mib']:.0f} MiB)", _status(r <= 1.2),
                         ""))
    return rows


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def render(results: dict) -> str:
    meta = results.get("meta", {})
    out = ["# cutout benchmark report", ""]
    sections = meta.get("sections", {})
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in sections.items())
    out.append(f"Mode: **{'quick (BENCH_QUICK=1)' if meta.get('quick') else 'full'}**; last run started "
               f"{meta.get('started', '?')} and took {meta.get('elapsed', 0):.0f} s"
               + (f" (sections, latest runs: {timing})" if timing else "") + ".  Raw numbers: `bench_output/results.json`.")
    out += ["", "## Machine", ""]
    out += _table(("item", "value"), list(results.get("machine", {}).items()))
    out += ["", "## Goals", ""]
    alt = results.get("reads_alt_floor")
    out += _table(("goal", "measured", "status", "the fitsio floor would give" + (" / the other build's floor" if alt else "")),
                  goals(results))
    out += ["", "The last column is the same ratio for the bare fitsio read (for the batch: the floor loop vs "
            "astrocut): a read goal the floor itself misses cannot be met by any reader built on that fitsio."]
    reads = results.get("reads")
    if reads:
        out += ["", "## (a) Box reads: IMAGE + MASK + VARIANCE (astrocut: IMAGE only)", "",
                f"Median ± half-IQR over {config.READ_REPS} box positions spread over the 3400×3400 patch "
                f"(same positions for every tool; full read + Cutout2D: the first {config.FULL_READ_REPS}). "
                "**Bold** = ratio to the fitsio floor (lower is faster). "
                "≠ marks pixels differing from fitsio's on the first box. Warm OS page cache, one warm-up read."]
        loads = [(row.get("_other_cores"), v, sz) for v, sizes in reads.items() for sz, row in sizes.items()
                 if row.get("_other_cores") is not None]
        if loads:
            top = max(loads)
            out.append(f"Other work on the machine kept {min(loads)[0]:.2f}–{top[0]:.2f} cores busy during the "
                       f"read cases (most during {top[1]}, {top[2]} px). The other tools read on one thread; "
                       "cutout reads one plane on a second thread where its tiles are large (512 px here).")
        out.append("")
        tools = [t for t in TOOLS if t != "fitsio"]
        for size in config.BOX_SIZES:
            out += [f"### {size} × {size} px", ""]
            rows = []
            for variant in config.VARIANTS:
                row = reads.get(variant.name, {}).get(str(size))
                if not row:
                    continue
                floor = row["fitsio"]["median"]
                rows.append([variant.label, _cell(row["fitsio"])] + [_cell(row.get(t), floor) for t in tools])
            out += _table(["variant", TOOLS["fitsio"]] + [TOOLS[t] for t in tools], rows) + [""]
        alt = results.get("reads_alt_floor")
        if alt:
            out += ["### The fitsio floor of another build (`BENCH_ALT_PYTHON`)", "",
                    f"`{alt['python']}`: fitsio {alt['fitsio']}, cfitsio {alt['cfitsio']}; the same boxes, "
                    "timed in a separate process right after the main read benchmark.", ""]
            rows = []
            for variant in config.VARIANTS:
                for size in config.BOX_SIZES:
                    row = reads.get(variant.name, {}).get(str(size))
                    other = alt["results"].get(variant.name, {}).get(str(size))
                    if not row or not other:
                        continue
                    rows.append((variant.label, size, _cell(row["fitsio"]), _cell(other, row["fitsio"]["median"]),
                                 f"{row['astropy_section']['median'] / other['median']:.2f}×"))
            out += _table(("variant", "px", "fitsio floor (this venv)", "fitsio floor (other build), **× this floor**",
                           "astropy .section / other floor"), rows) + [""]
        out += ["Speed of the `cutout` library read (open once) relative to each other tool "
                "(× faster; below 1: cutout is slower):", ""]
        rows = []
        for variant in config.VARIANTS:
            for size in config.BOX_SIZES:
                row = reads.get(variant.name, {}).get(str(size))
                if not row:
                    continue
                lib = row["cutout"]["median"]
                rows.append([variant.label, size] + [f"{row[t]['median'] / lib:.2f}×" if "median" in row.get(t, {})
                                                     else "n/a" for t in ("fitsio", "astropy_section",
                                                                          "astropy_full", "astrocut")])
        out += _table(("variant", "px", "vs fitsio floor", "vs astropy .section", "vs full + Cutout2D",
                       "vs astrocut (1 plane)"), rows)
    proc = results.get("process")
    if proc:
        t = proc["times"]
        base = {"cutout subset": "import astropy.wcs, fitsio, numpy", "fitsio script": "import astropy.wcs, fitsio, numpy",
                "imcopy (IMAGE only)": "import astropy.wcs, fitsio, numpy", "cutout --help": "import click, rich"}
        out += ["", "## (b) Whole process", "",
                f"{proc['tool']}, {proc['runs']} runs after {proc['warmup']} warm-up runs; one 300 px box of "
                f"tract 5063 patch 33 band r ({config.WHOLE_PROCESS_VARIANT}); median ± half-IQR. "
                f"Other work kept {_load(proc.get('other_cores'))} cores busy meanwhile.", ""]
        rows = []
        for name, stats in t.items():
            ref = base.get(name)
            ratio = f"{stats['median'] / t[ref]['median']:.2f}× `{ref}`" if ref in t else ""
            rows.append((name, _cell(stats), ratio))
        out += _table(("command", "wall time", "ratio"), rows)
        for name, fail in proc.get("failures", {}).items():
            out.append(f"\n- {name} failed: `{fail}`")
        out += ["", "<details><summary>commands</summary>", ""]
        out += [f"- {name}: `{cmd}`" for name, cmd in proc["commands"].items()]
        out += ["", "</details>"]
        for label, imp in proc.get("imports", {}).items():
            out += ["", f"### `python -X importtime`: {label}", "",
                    f"{imp['modules']} modules, {imp['total_ms']:.0f} ms of import time in total.", ""]
            by_self = imp["by_self"]
            cum = imp["by_cumulative"]
            rows = []
            for i in range(max(len(by_self), len(cum))):
                a = cum[i] if i < len(cum) else ("", 0, 0)
                b = by_self[i] if i < len(by_self) else ("", 0)
                rows.append((f"`{a[0]}`" if a[0] else "", f"{a[1]:.1f}" if a[0] else "",
                             f"`{b[0]}`" if b[0] else "", f"{b[1]:.1f}" if b[0] else ""))
            out += _table(("import (· = nested)", "cumulative ms", "module", "self ms"), rows)
    batch = results.get("batch")
    if batch:
        c = batch["contenders"]
        floor = c.get("fitsio floor", {}).get("rate")
        astro = c.get("astrocut (IMAGE only)", {}).get("rate")
        out += ["", "## (c) Batch throughput", "",
                f"{batch['targets']} targets uniformly random in the inner boxes of the 8 sample patches "
                f"(band {config.BATCH_BAND}, RICE_1 128 px tiles), {config.BATCH_SIZE} px, FITS written; "
                "wall time of the whole process (start-up included), median of "
                f"{config.BATCH_REPS} run(s); cutouts written to {batch.get('outputs', 'disk')}. "
                + ("" if batch["has_jobs"] else
                                                  "`cutout batch` has no `--jobs` option yet: only the default "
                                                  "(serial) run is measured."), ""]
        rows = []
        for name, r in c.items():
            timed = r.get("extrapolated_from")
            rows.append((name, f"{r['targets']}" + (" (subset, rate extrapolated)" if timed and timed < batch["targets"] else ""),
                         f"{r['wall']:.1f} s", f"{r['rate']:.0f}", f"{r['rate'] / floor:.2f}×" if floor else "",
                         f"{r['rate'] / astro:.2f}×" if astro else "", f"{r['max_rss_mib']:.0f} MiB",
                         _load(r.get("other_cores")),
                         "; ".join(f"{x['rate']:.0f}/s ({_load(x.get('other_cores'))})" for x in r.get("runs", [])),
                         "" if r["ok"] else "FAILED"))
        out += _table(("contender", "targets timed", "wall (median)", "cutouts/s", "× floor", "× astrocut",
                       "peak RSS", "others' load (max)", "every run: rate (others' load)", ""), rows)
        out += ["", "Peak RSS is the largest single process (with --jobs 2: the parent or one worker), measured "
                "from a small wrapper. Others' load: cores kept busy by other work during the run "
                f"(max over runs; ⚠ above {BUSY}: a 2-core speed-up cannot show)."]
        if batch.get("memory"):
            out += ["", "Peak memory (ru_maxrss) of `cutout batch`:", ""]
            out += _table(("run", "wall", "cutouts/s", "peak RSS", "others' load (cores)"),
                          [(k, f"{v['wall']:.1f} s", f"{v['rate']:.0f}", f"{v['max_rss_mib']:.0f} MiB",
                            _load(v.get("other_cores"))) for k, v in batch["memory"].items()])
    if results.get("lsst_images"):
        from .lsst_images import render as render_lsst_images

        out += render_lsst_images(results["lsst_images"])
    if results.get("serve"):
        from .serve import render as render_serve

        out += render_serve(results["serve"])
    if results.get("notes"):
        out += ["", "## Notes", ""] + [f"- {n}" for n in results["notes"]]
    return "\n".join(out) + "\n"
