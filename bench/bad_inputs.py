"""Run every class of bad input through the real ``skelkit`` command and write the table of messages and exit codes.

Usage::

    python bench/bad_inputs.py            # writes docs/errors.md

Each case builds its inputs in a temporary folder, runs ``skelkit ...`` in a
subprocess and records the exit code and what it printed on stderr (paths
shown as ``$T``). ``tests/test_bad_inputs.py`` runs the same cases and checks
that each gives one line and its documented exit code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _png(path, arr):
    from PIL import Image

    Image.fromarray(arr).save(path)


def _blob(shape=(40, 50)):
    a = np.zeros(shape, bool)
    a[tuple(slice(n // 5, n - n // 5) for n in shape)] = True
    return a


def _zarr(path, arr, chunks=None):
    import zarr

    z = zarr.open_array(str(path), mode="w", shape=arr.shape, chunks=chunks or arr.shape, dtype=arr.dtype)
    z[...] = arr


def _setup_files(t: Path):
    """Every input the cases use, built in ``t``."""
    import nibabel as nib
    import tifffile

    _png(t / "ok.png", _blob().astype(np.uint8) * 255)
    (t / "empty.png").write_bytes(b"")
    (t / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (t / "notes.txt").write_text("hello")
    (t / "folder.png").mkdir()
    np.save(t / "line.npy", np.ones(10, bool))
    np.save(t / "4d.npy", np.ones((2, 3, 4, 5), bool))
    nan = _blob().astype(np.float32)
    nan[0, 0] = np.nan
    np.save(t / "nan.npy", nan)
    np.save(t / "grey.npy", np.random.default_rng(0).random((40, 50)).astype(np.float32))
    np.save(t / "labels.npy", np.where(_blob(), 2, 1).astype(np.uint8))
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 0] = np.arange(50, dtype=np.uint8)[None]
    rgba[..., 3] = _blob() * 255
    _png(t / "colour_alpha.png", rgba)
    tifffile.imwrite(t / "stack.tif", _blob((12, 30, 30)).astype(np.uint8) * 255)
    (t / "damaged.tif").write_bytes((t / "stack.tif").read_bytes()[:300])
    img = nib.Nifti1Image(_blob((12, 14, 16)).astype(np.uint8), np.eye(4))
    img.header.set_qform(None, code=0)
    img.header.set_sform(np.eye(4), code=1)
    nib.save(img, str(t / "nan_affine.nii"))
    raw = bytearray((t / "nan_affine.nii").read_bytes())
    raw[280:284] = np.float32(np.nan).tobytes()  # srow_x[0]
    (t / "nan_affine.nii").write_bytes(bytes(raw))
    _zarr(t / "vol.zarr", _blob((24, 32, 32)))
    _zarr(t / "damaged.zarr", np.eye(64, dtype=bool), chunks=(32, 32))
    chunk = next(p for p in (t / "damaged.zarr").rglob("*") if p.is_file() and p.name not in ("zarr.json", ".zarray"))
    chunk.write_bytes(b"junk")
    import zarr

    zarr.open_group(str(t / "group.zarr"), mode="w")
    (t / "a").mkdir()
    (t / "b").mkdir()
    _png(t / "a" / "x.png", _blob().astype(np.uint8) * 255)
    _png(t / "b" / "x.png", _blob().astype(np.uint8) * 255)
    (t / "blocked").mkdir()
    (t / "blocked" / "ok.png").mkdir()
    (t / "corrupt.pt").write_bytes(b"not a checkpoint")
    np.save(t / "big.npy", _blob((30, 60)))
    np.save(t / "small.npy", _blob((20, 60)))


#: (class, what, arguments after ``skelkit``, expected exit code)
CASES = [
    ("input file", "missing file", ["skeletonize", "$T/nope.png", "-o", "$T/o"], 1),
    ("input file", "empty file", ["skeletonize", "$T/empty.png", "-o", "$T/o"], 1),
    ("input file", "corrupt image", ["skeletonize", "$T/corrupt.png", "-o", "$T/o"], 1),
    ("input file", "unsupported type", ["skeletonize", "$T/notes.txt", "-o", "$T/o"], 1),
    ("input file", "a folder named like an image", ["skeletonize", "$T/folder.png", "-o", "$T/o"], 1),
    ("input file", "damaged TIFF", ["skeletonize", "$T/damaged.tif", "-o", "$T/o"], 1),
    ("input file", "NIfTI with a NaN affine", ["skeletonize", "$T/nan_affine.nii", "-o", "$T/o"], 1),
    ("input values", "1D array", ["skeletonize", "$T/line.npy", "-o", "$T/o"], 1),
    ("input values", "4D array", ["skeletonize", "$T/4d.npy", "-o", "$T/o"], 1),
    ("input values", "NaN values", ["skeletonize", "$T/nan.npy", "-o", "$T/o"], 1),
    ("input values", "grey levels without --threshold", ["skeletonize", "$T/grey.npy", "-o", "$T/o"], 1),
    ("input values", "two values without 0 (labels {1, 2})", ["skeletonize", "$T/labels.npy", "-o", "$T/o"], 1),
    ("input values", "non-finite --threshold", ["skeletonize", "$T/ok.png", "-o", "$T/o", "--threshold", "nan"], 1),
    ("input values", "colour and transparency both vary", ["skeletonize", "$T/colour_alpha.png", "-o", "$T/o"], 1),
    ("Zarr input", "damaged chunk", ["skeletonize", "$T/damaged.zarr", "-o", "$T/o", "--chunks", "64"], 1),
    ("Zarr input", "group without arrays", ["skeletonize", "$T/group.zarr", "-o", "$T/o"], 1),
    ("Zarr input", "--format with a Zarr input", ["skeletonize", "$T/vol.zarr", "-o", "$T/o", "--format", "png"], 1),
    ("Zarr input", "output inside the input store", ["skeletonize", "$T/vol.zarr", "-o", "$T/vol.zarr/out"], 1),
    ("Zarr input", "chunks thinner than the halo", ["skeletonize", "$T/vol.zarr", "-o", "$T/o", "--chunks", "8"], 1),
    ("method and flags", "unknown method", ["skeletonize", "$T/ok.png", "-o", "$T/o", "-m", "nope"], 1),
    ("method and flags", "a flag of another method", ["skeletonize", "$T/ok.png", "-o", "$T/o", "--guard"], 1),
    ("method and flags", "--max-iter for a method without iterations",
     ["skeletonize", "$T/ok.png", "-o", "$T/o", "-m", "skimage", "--max-iter", "2"], 1),
    ("method and flags", "--prob for a method without probabilities",
     ["skeletonize", "$T/ok.png", "-o", "$T/o", "--prob"], 1),
    ("method and flags", "3D input to a 2D-only method", ["skeletonize", "$T/stack.tif", "-o", "$T/o", "-m",
                                                          "medial_axis"], 1),
    ("method and flags", "--chunks for image files", ["skeletonize", "$T/ok.png", "-o", "$T/o", "--chunks", "64"], 1),
    ("method and flags", "missing weights file", ["skeletonize", "$T/ok.png", "-o", "$T/o", "-m", "skelite",
                                                  "--weights", "$T/none.pt"], 1),
    ("method and flags", "corrupt weights file", ["skeletonize", "$T/ok.png", "-o", "$T/o", "-m", "skelite",
                                                  "--weights", "$T/corrupt.pt"], 1),
    ("output", "a folder where the output goes", ["skeletonize", "$T/ok.png", "-o", "$T/blocked"], 1),
    ("output", "two inputs with one output name", ["skeletonize", "$T/a/x.png", "$T/b/x.png", "-o", "$T/o"], 1),
    ("output", "output would overwrite the input", ["skeletonize", "$T/ok.png", "-o", "$T"], 1),
    ("output", "3D input written as PNG", ["skeletonize", "$T/stack.tif", "-o", "$T/o", "--format", "png"], 1),
    ("output", "output folder is a file", ["skeletonize", "$T/ok.png", "-o", "$T/notes.txt"], 2),
    ("other commands", "eval: shapes differ", ["eval", "$T/big.npy", "$T/small.npy"], 1),
    ("other commands", "eval: non-finite tolerance", ["eval", "$T/ok.png", "$T/ok.png", "--tolerance", "nan"], 1),
    ("other commands", "synth: shape too large", ["synth", "-o", "$T/s", "-n", "1", "--shape", "200000,200000",
                                                  "--no-teacher"], 1),
    ("other commands", "train: non-finite learning rate", ["train", "skelite", "--dim", "2", "--lr", "inf",
                                                           "--out", "$T/t"], 1),
    ("other commands", "train unet: no data folder", ["train", "unet", "--data", "$T/nowhere", "--out", "$T/t"], 1),
    ("usage (click)", "unknown flag", ["skeletonize", "$T/ok.png", "-o", "$T/o", "--bogus"], 2),
    ("usage (click)", "value out of range", ["synth", "-o", "$T/s", "--seed", "-1"], 2),
]


def run_case(args, t: Path) -> tuple[int, str]:
    """Exit code and stderr (paths as ``$T``) of ``skelkit ARGS`` with ``$T`` the inputs' folder."""
    argv = [a.replace("$T", str(t)) for a in args]
    r = subprocess.run([sys.executable, "-m", "skelkit.cli.main", *argv], capture_output=True, text=True, timeout=300)
    return r.returncode, r.stderr.replace(str(t), "$T").strip()


def main() -> int:
    t = Path(tempfile.mkdtemp(prefix="skelkit-bad-"))
    try:
        _setup_files(t)
        rows = []
        for cls, what, args, want in CASES:
            code, err = run_case(args, t)
            shown = err.splitlines()[-1] if err else ""
            rows.append(f"| {cls} | {what} | `skelkit {' '.join(args)}` | {code} | {shown.replace('|', '/')} |")
            status = "ok" if code == want else f"UNEXPECTED (wanted {want})"
            print(f"{status:>22}  {code}  {what}", flush=True)
    finally:
        shutil.rmtree(t, ignore_errors=True)
    md = ROOT / "docs" / "errors.md"
    md.write_text(HEADER + "\n".join(rows) + "\n")
    print(f"wrote {md}")
    return 0


HEADER = """# Errors: what skelkit says, and its exit codes

Generated by `python bench/bad_inputs.py`, which runs each case through the real `skelkit` command
(`tests/test_bad_inputs.py` checks that each case gives one line and the exit code below).

## Exit codes

| code | meaning |
|---|---|
| 0 | success |
| 1 | an error about the data or the run, as one line on stderr (`skelkit: error: ...`); also `--keep-going` runs in which some input failed |
| 2 | a usage error found by the command-line parser (click: unknown flag, value out of range), as click prints it |
| 130 | interrupted (Ctrl-C) |
| 143 | terminated (SIGTERM, what `timeout` and batch schedulers send) |

Whatever the code, no partial output is left: files are written under temporary names and renamed when
complete; an input's outputs (skeleton, overlay, probability map) are written all or none, and a failure never
removes what was at the output name before. Ctrl-C and SIGTERM remove the run's temporary files; after SIGKILL
(which no program can catch) the next `skelkit skeletonize` over the same folder removes the temporary files of
runs that no longer live (their names carry host and process id; a live run's files are left alone). A run that
finds an output changed since it planned to write it (another run writing the same folder) refuses to replace it.

## What counts as binary

One rule for the API, the CLI and chunked runs: bool input is foreground where True (any nonzero byte); with
`threshold`/`--threshold`, foreground is `value > threshold`; otherwise the image must hold at most two values,
one of them 0, and foreground is everything nonzero ({0, 1}, {0, 255}, {-1, 0} alike). Grey levels, label images
and two values without 0 are refused with a message that asks for a threshold. Chunked runs check this over all
chunks before they start (one extra read of the input for non-bool data).

## Every class of bad input

| class | case | command | exit | message |
|---|---|---|---|---|
"""


if __name__ == "__main__":
    sys.exit(main())
