"""The documented example scripts run."""

import runpy
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_api_example_runs(capsys):
    runpy.run_path(str(DOCS / "api_example.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "tumour cells" in out and "pN1(sn)" in out
