"""The Rubin tutorial "Image subsets with the Butler", step by step, with cutout.

Runs on the bundled sample repository (``make sample`` first; ``make tutorial``
does both) and writes its pictures to ``demo_output/tutorial/``.  Each step
prints what the Butler version printed, and checks the numbers it can.

    python examples/tutorial.py [--repo sample_repo] [--out demo_output/tutorial]
"""

import argparse
import csv
from pathlib import Path

from cutout_cli import Box, Repository
from cutout_cli.display import write_grid

RA, DEC = 53.318792, -27.844306  # target 11 of the ECDFS AGN list


def step(title):
    print(f"\n== {title}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=None, help="repository root (default: the bundled sample)")
    parser.add_argument("--out", default="demo_output/tutorial", help="where pictures go")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    repo = Repository(args.repo)

    step("1. Which deep_coadd datasets in r overlap the point?  (butler.query_datasets)")
    refs = repo.query("deep_coadd", "r", RA, DEC)
    for ref in refs:
        print(f"  tract={ref.tract} patch={ref.patch} band={ref.band} home={ref.home}")
    ref = next(r for r in refs if r.home)

    step("2. The coadd's bounding boxes  (deep_coadd.getBBox(PARENT | LOCAL))")
    handle = repo.deferred(ref)  # butler.getDeferred: opened on first use, once
    parent = handle.bbox
    local = repo.skymap.tract(ref.tract).patch(ref.patch).get_bbox("local")
    print(f"  PARENT: min=({parent.min_x}, {parent.min_y}) max=({parent.max_x}, {parent.max_y}) "
          f"dimensions=({parent.width}, {parent.height})")
    print(f"  LOCAL:  min=({local.min_x}, {local.min_y}) max=({local.max_x}, {local.max_y})")
    assert (parent.width, parent.height) == (3400, 3400) and (local.min_x, local.min_y) == (0, 0)

    step("3. Boxes from corners (inclusive) and from corner + size  (Box2I(Point2I, Point2I | Extent2I))")
    x0, y0 = parent.min_x + 1500, parent.min_y + 1200
    from_corners = Box.from_min_max(x0, y0, x0 + 399, y0 + 299)
    from_extent = Box.from_corner_size(x0, y0, 400, 300)
    print(f"  from corners: {from_corners}   from corner + size: {from_extent}")
    assert from_corners == from_extent

    step("4. Read only that box  (butler.get(..., parameters={'bbox': box}))")
    subset = handle.get(from_extent)
    print(f"  image {subset.image.shape} {subset.image.dtype}, xy0={subset.xy0}, unit={subset.unit}")
    print(f"  mask planes: {', '.join(f'{k}={v}' for k, v in list(subset.mask_planes.items())[:6])}, ...")
    same = handle.get(Box.from_corner_size(x0 - parent.min_x, y0 - parent.min_y, 400, 300), origin="local")
    assert (same.image == subset.image).all() and same.xy0 == subset.xy0
    subset.to_png(out / "step4_box.png", overwrite=True)

    step("5. A box centred on the sky position  (wcs.skyToPixel + Box2I.makeCenteredBox)")
    tract = repo.skymap.find_tract(RA, DEC)
    x, y = (float(v) for v in tract.sky_to_pixel(RA, DEC))
    n = round(60 / tract.pixel_scale)  # 60 arcsec in pixels: round(), never int()
    centred = Box.centered(x, y, n, n)
    print(f"  pixel position ({x:.2f}, {y:.2f}); {n} px box {centred}")
    cutout = repo.cutout(RA, DEC, "60arcsec", band="r")
    print(f"  repo.cutout(...) xy0={cutout.xy0} bbox={cutout.bbox}")
    assert cutout.bbox == centred
    cutout.writeto(out / "agn11_r.fits", overwrite=True)
    cutout.to_png(out / "agn11_r.png", overwrite=True)
    ccd = cutout.to_ccddata()
    print(f"  as CCDData: {ccd.shape} {ccd.unit}, {int(ccd.mask.sum())} masked pixels")

    step("6. Every target: findTract + findPatch, one deferred handle per coadd  (the tutorial's loop)")
    targets_csv = Path(repo.root) / "targets.csv"
    with open(targets_csv, newline="") as stream:
        targets = list(csv.DictReader(stream))
    handles, cutouts = {}, []
    for target in targets:
        ra, dec = float(target["ra"]), float(target["dec"])
        tract = repo.skymap.find_tract(ra, dec)
        patch = tract.find_patch(ra, dec)
        key = (tract.id, patch.index)
        if key not in handles:
            handles[key] = repo.deferred(repo.ref("deep_coadd", tract.id, patch.index, "z"))
        cutouts.append(handles[key].cutout(ra, dec, 50, frame=tract))
    opens = sum(h.opens for h in handles.values())
    print(f"  {len(cutouts)} cutouts from {len(handles)} coadds, {opens} file opens")
    assert opens == len(handles)
    for h in (*handles.values(), handle):
        h.close()
    write_grid(out / "grid_z.png", cutouts, labels=[t["id"] for t in targets], overwrite=True,
               title="ECDFS AGN hosts, z band, 50 px")
    print(f"\nPictures in {out}/: step4_box.png, agn11_r.png, grid_z.png")


if __name__ == "__main__":
    main()
