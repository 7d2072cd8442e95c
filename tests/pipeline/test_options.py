"""The options object: one place for every analysis choice, its default and its check."""

import dataclasses

import pytest

from pipeline import defaults
from pipeline.options import STAINS, AnalysisOptions, option_fields, option_help


def test_defaults_come_from_pipeline_defaults():
    opts = AnalysisOptions()
    assert opts.link_um == defaults.CAMELYON_LINK_UM == 75.0
    assert (opts.itc_max_um, opts.micro_max_um, opts.itc_max_cells) == (200.0, 2000.0, 200)
    assert (opts.cohesive_max, opts.single_file_min, opts.min_pattern_cells) == (0.3, 0.7, 10)
    assert opts.stain == "auto" and opts.rule == "camelyon" and STAINS == ("auto", "he", "ihc")
    assert opts.tile_px_for("in-memory") == 512 and opts.tile_px_for("whole-slide") == 2048
    assert AnalysisOptions(tile_px=1024).tile_px_for("whole-slide") == 1024


def test_options_are_frozen_and_replace_validates():
    opts = AnalysisOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.link_um = 10.0
    assert opts.replace(link_um=30).link_um == 30.0 and opts.link_um == 75.0
    with pytest.raises(TypeError, match="unknown analysis option"):
        opts.replace(linkum=30)
    with pytest.raises(ValueError, match="link_um must be a finite number >= 0"):
        opts.replace(link_um=-1)


@pytest.mark.parametrize("kwargs, message", [
    ({"stain": "pas"}, "stain must be one of 'auto', 'he', 'ihc', got 'pas'"),
    ({"rule": "touching"}, "rule must be one of 'camelyon', 'contiguous'"),
    ({"dab_threshold": 0}, "dab_threshold must be a finite number > 0"),
    ({"tile_px": 32}, "tile_px must be >= 64 pixels, got 32"),
    ({"seed_probability": 1.5}, "seed_probability must be between 0 and 1"),
    ({"micro_max_um": 100.0}, r"micro_max_um \(100 µm\) must be larger than itc_max_um"),
    ({"cohesive_max": 0.8}, r"single_file_min \(0.7\) must be >= cohesive_max \(0.8\)"),
    ({"itc_max_cells": 2.5}, "itc_max_cells must be an integer"),
    ({"sample_tiles": 0}, "sample_tiles must be an integer >= 1"),
])
def test_bad_options_name_the_option(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        AnalysisOptions(**kwargs)


def test_every_option_is_documented():
    doc = AnalysisOptions.__doc__
    for name in option_fields():
        info = option_help(name)
        assert info["help"], name
        assert name in doc, f"{name} is not in the AnalysisOptions docstring"
    with pytest.raises(KeyError, match="no analysis option"):
        option_help("nope")


def test_cli_options_take_their_defaults_and_choices_from_the_options_object():
    import typer.main

    from pipeline import cli
    from pipeline.cli import app

    command = typer.main.get_command(app).commands["analyze"]
    by_flag = {flag: p for p in command.params for flag in getattr(p, "opts", [])}
    exposed = [n for n in option_fields() if option_help(n)["cli"]]
    assert {"stain", "rule", "link_um", "wsi_threshold_mp"} <= set(exposed)
    for name in exposed:
        info = option_help(name)
        param = by_flag[info["cli"]]
        default = param.default.value if hasattr(param.default, "value") else param.default
        assert default == info["default"], name
        if info["choices"]:
            enum = type(param.default)
            assert tuple(m.value for m in enum) == tuple(info["choices"]), name
    assert type(by_flag["--stain"].default) is cli.Stain and type(by_flag["--rule"].default) is cli.Rule


def test_the_resume_key_holds_every_option():
    from pipeline.batch import run_parameters

    key = run_parameters(AnalysisOptions(stain="ihc"), 0.5)
    assert set(key) == {"pixel_size_um", *option_fields()}
    assert key["stain"] == "ihc" and key["pixel_size_um"] == 0.5


def test_nucleus_pixel_size_sets_a_whole_averaging_factor():
    opts = AnalysisOptions()
    assert [opts.nucleus_factor(px) for px in (0.1, 0.17, 0.23, 0.25, 0.26, 0.5, 2.0)] == [5, 2, 2, 2, 1, 1, 1]
    assert AnalysisOptions(nucleus_pixel_size_um=0).nucleus_factor(0.1) == 1
    assert AnalysisOptions(nucleus_pixel_size_um=1.0).nucleus_factor(0.25) == 4
    with pytest.raises(ValueError, match="nucleus_pixel_size_um"):
        AnalysisOptions(nucleus_pixel_size_um=-0.5)
