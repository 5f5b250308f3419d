"""Synthetic sample repository: deterministic, realistic-looking coadd files (tooling, not public API).

The generator writes one afw-layout coadd (docs/conventions.md, section 3) per
(tract, patch, band) into a repository described by ``repo.json``.  Every
pixel is computed, nothing is real: use the files to try the tool, for tests
and for benchmarks.  Run it with ``python -m cutout_cli._sample --help``.

What a file holds:

* IMAGE (float32, nJy): PSF-convolved sources plus Gaussian noise.  Sources are
  a field of stars and galaxies (power-law magnitude counts, random shapes and
  colours), a few bright saturated stars, and at every target position a host
  galaxy (de Vaucouleurs bulge + exponential disk) with a point-like nucleus.
* MASK (int32): ``SAT`` where a star's noiseless peak exceeds the saturation
  level (the image is clipped there), ``DETECTED`` where the PSF-smoothed
  noiseless model exceeds ``detect_threshold`` sigmas of the smoothed sky
  (a PSF-matched filter, see :mod:`.render`).  Bits follow :data:`.scene.MASK_PLANES`.
* VARIANCE (float32, nJy**2): slowly varying sky variance plus a Poisson-like
  term proportional to the source model, with a small pixel-to-pixel scatter as
  in real coadds; the image noise is drawn from exactly these values.

Conventions (pixel origin, units, angles) and what each random stream depends
on are stated in :mod:`.scene`.

Modules, each over the ones before it:

* :mod:`.scene`: constants, :class:`~.scene.BandModel`, :class:`~.scene.SceneOptions`,
  targets, source profiles and the PSF mixture, random streams.
* :mod:`.catalog`: :class:`~.catalog.Catalog`; field, target and patch catalogues.
* :mod:`.render`: the noiseless model, sky variance, the three planes, detection mask.
* :mod:`.headers`: FITS cards of the planes and the primary HDU, compression plan.
* :mod:`.generate`: writing a repository (targets CSV, dataset paths, jobs, progress).
* :mod:`.__main__`: the command line.
* :mod:`.butler`: a real Butler repository of the sample (with lsst-daf-butler).
* :mod:`.lsst_images`: files written by Rubin's ``lsst-images`` package (MaskedImage,
  CellCoadd, VisitImage), small for the tests and full size for the benchmarks.

Nothing is imported here, so importing one module stays cheap.
"""
