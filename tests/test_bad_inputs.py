"""Every class of bad input of ``docs/errors.md``, through the real command: one line, the documented exit code,
no output left behind."""

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("bad_inputs", Path(__file__).parents[1] / "bench" / "bad_inputs.py")
bad_inputs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bad_inputs)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    t = tmp_path_factory.mktemp("bad")
    bad_inputs._setup_files(t)
    return t


@pytest.mark.parametrize("cls, what, args, want", bad_inputs.CASES, ids=[c[1] for c in bad_inputs.CASES])
def test_bad_input_gives_one_line_and_its_exit_code(inputs, cls, what, args, want):
    before = sorted(p.name for p in inputs.iterdir())
    code, err = bad_inputs.run_case(args, inputs)
    assert code == want, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if want == 1:
        assert len(lines) == 1 and lines[0].startswith("skelkit: error: "), err
    else:  # click's usage error: "Usage: ...", "Try ...", "Error: ..."
        assert lines[-1].startswith("Error: ") and len(lines) <= 3, err
    assert sorted(p.name for p in inputs.iterdir()) == before  # no output folder, no temporary file
    for zarr_in in inputs.glob("*.zarr"):
        assert not (zarr_in / "out").exists()
