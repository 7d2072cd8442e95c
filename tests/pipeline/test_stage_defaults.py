"""The stage modules' defaults are the constants of pipeline.defaults, written once."""

import inspect

import pytest

from pipeline import defaults, measure, pattern, staging, tumor


@pytest.mark.parametrize(
    "module, name",
    [
        (measure, "CAMELYON_LINK_UM"),
        (measure, "CONTACT_UM"),
        (measure, "RULES"),
        (pattern, "MIN_PATTERN_CELLS"),
        (pattern, "COHESIVE_MAX"),
        (pattern, "SINGLE_FILE_MIN"),
        (staging, "ITC_MAX_UM"),
        (staging, "MICRO_MAX_UM"),
        (staging, "ITC_MAX_CELLS"),
        (tumor, "DAB_THRESHOLD"),
    ],
)
def test_stage_constants_are_the_defaults_module_values(module, name):
    assert getattr(module, name) is getattr(defaults, name)


def test_ihc_threshold_default():
    default = inspect.signature(tumor.classify_ihc).parameters["dab_threshold"].default
    assert default is tumor.DAB_THRESHOLD == 0.2
