"""The rules files load strictly: a mistake refuses to load with a message naming the file and the key."""

import pytest
import yaml

from services.subsidy.calculators import CALCULATORS
from services.subsidy.rulebook import RULES_DIR, RulesError, load_rulebook

GOOD = {
    "program": "sample",
    "name_ja": "見本",
    "name_en": "Sample",
    "citation": "「見本」",
    "summary": "a sample",
    "fiscal_years": {"first": 2022, "last": 2023},
    "parameters": {
        "cap": {
            "type": "yen",
            "description": "a cap",
            "citation": "「見本」",
            "values": [{"from": 2022, "to": 2022, "value": 100}, {"from": 2023, "to": 2023, "value": 200}],
        }
    },
}


def _load(tmp_path, document: dict, name: str = "sample"):
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return load_rulebook(tmp_path)


def _with_parameter(**changes) -> dict:
    document = yaml.safe_load(yaml.safe_dump(GOOD))
    document["parameters"]["cap"].update(changes)
    return document


def test_the_shipped_rules_cover_every_calculator_for_fy2022_and_fy2023():
    rulebook = load_rulebook(RULES_DIR)
    assert set(rulebook.programs) == set(CALCULATORS)
    for program in rulebook.programs.values():
        assert {2022, 2023} <= set(program.fiscal_years), program.id
        for year in program.fiscal_years:
            assert rulebook.parameter_set(program.id, year).hash.startswith("sha256:")


def test_a_good_file_loads_with_dated_values(tmp_path):
    rulebook = _load(tmp_path, GOOD)
    assert (rulebook.parameter_set("sample", 2022)["cap"], rulebook.parameter_set("sample", 2023)["cap"]) == (100, 200)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**GOOD, "surprise": 1}, "sample.yaml: surprise: Extra inputs are not permitted"),
        (_with_parameter(colour="red"), "sample.yaml: parameters.cap.colour: Extra inputs are not permitted"),
        ({k: v for k, v in GOOD.items() if k != "citation"}, "sample.yaml: citation: Field required"),
        (_with_parameter(citation=""), "sample.yaml: parameters.cap.citation: String should have at least 1 character"),
        (
            _with_parameter(values=[{"from": 2022, "to": 2023, "value": 1}, {"from": 2023, "to": 2023, "value": 2}]),
            "sample.yaml: parameters.cap: period FY2023 overlaps an earlier period",
        ),
        (
            _with_parameter(values=[{"from": 2022, "to": 2022, "value": 1}]),
            "sample.yaml: parameters.cap: no value for FY2023",
        ),
        (
            _with_parameter(values=[{"from": 2023, "to": 2023, "value": 1}]),
            "sample.yaml: parameters.cap: no value for FY2022",
        ),
        (
            _with_parameter(values=[{"from": 2022, "to": 2024, "value": 1}]),
            "sample.yaml: parameters.cap: a period runs past",
        ),
        (
            _with_parameter(values=[{"from": 2022, "to": 2023, "value": -1}]),
            "sample.yaml: parameters.cap: FY2022: expected",
        ),
        (
            _with_parameter(values=[{"from": 2022, "to": 2023, "value": 1.5}]),
            "sample.yaml: parameters.cap: FY2022: expected",
        ),
        (
            _with_parameter(type="rate", values=[{"from": 2022, "to": 2023, "value": 0.5}]),
            "sample.yaml: parameters.cap: FY2022: expected an exact fraction",
        ),
        (
            _with_parameter(values=[{"from": 2022, "to": 2023, "value": None}]),
            "sample.yaml: parameters.cap: FY2022: null (not in force) needs nullable: true",
        ),
        (_with_parameter(type="percentage"), "sample.yaml: parameters.cap.type: Input should be"),
        ({**GOOD, "program": "other"}, "sample.yaml: program: 'other' does not match the file name"),
    ],
)
def test_a_bad_file_refuses_to_load_naming_file_and_key(tmp_path, document, message):
    with pytest.raises(RulesError) as raised:
        _load(tmp_path, document)
    assert str(raised.value).startswith(message), str(raised.value)


def test_values_are_exact(tmp_path):
    rulebook = load_rulebook(RULES_DIR)
    params = rulebook.parameter_set("local10000", 2023)
    assert params["weak_area_rate"].denominator == 3
    assert params.trace_entries["weakest_fsi_threshold"]["value"] == "0.25"


def test_new_in_fy2023_is_absent_in_fy2022():
    rulebook = load_rulebook(RULES_DIR)
    assert rulebook.parameter_set("chiiki_okoshi", 2022)["support_cap"] is None
    assert "jfc" not in rulebook.parameter_set("local10000", 2022)["accepted_lenders"]
    assert "jfc" in rulebook.parameter_set("local10000", 2023)["accepted_lenders"]
    assert rulebook.parameter_set("digital_talent", 2022)["dx_leader_training_rate"] is None
