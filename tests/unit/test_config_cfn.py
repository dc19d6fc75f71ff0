"""Reading template files: short intrinsic tags, JSON, and the line of every resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from appsync_emu.config.cfn import SourceStr, line_of, read_template
from appsync_emu.config.model import ConfigError

TAGS = """\
Resources:
  Thing:
    Type: AWS::Custom::Thing
    Properties:
      Ref: !Ref Other
      Dotted: !GetAtt Api.GraphQLUrl
      Nested: !GetAtt Table.StreamSpecification.StreamViewType
      Listed: !GetAtt [Api, ApiId]
      Sub: !Sub "${AWS::Region}"
      SubVars: !Sub ["${A}", {A: !Ref Other}]
      Join: !Join [",", [a, b]]
      Select: !Select [0, !Split [",", "a,b"]]
      If: !If [IsProd, !Equals [a, b], !Not [!And [!Or [!Condition C, !Condition D]]]]
      Map: !FindInMap [M, k1, k2]
      B64: !Base64 text
      Azs: !GetAZs ""
      Import: !ImportValue shared
      Date: 2012-10-17
  Other:
    Type: AWS::SQS::Queue
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_short_tags_become_long_forms(tmp_path: Path) -> None:
    props = read_template(write(tmp_path, "t.yaml", TAGS)).body["Resources"]["Thing"]["Properties"]
    assert props["Ref"] == {"Ref": "Other"}
    assert props["Dotted"] == {"Fn::GetAtt": ["Api", "GraphQLUrl"]}
    assert props["Nested"] == {"Fn::GetAtt": ["Table", "StreamSpecification.StreamViewType"]}
    assert props["Listed"] == {"Fn::GetAtt": ["Api", "ApiId"]}
    assert props["Sub"] == {"Fn::Sub": "${AWS::Region}"}
    assert props["SubVars"] == {"Fn::Sub": ["${A}", {"A": {"Ref": "Other"}}]}
    assert props["Join"] == {"Fn::Join": [",", ["a", "b"]]}
    assert props["Select"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert props["If"] == {
        "Fn::If": [
            "IsProd",
            {"Fn::Equals": ["a", "b"]},
            {"Fn::Not": [{"Fn::And": [{"Fn::Or": [{"Condition": "C"}, {"Condition": "D"}]}]}]},
        ]
    }
    assert props["Map"] == {"Fn::FindInMap": ["M", "k1", "k2"]}
    assert props["B64"] == {"Fn::Base64": "text"}
    assert props["Azs"] == {"Fn::GetAZs": ""}
    assert props["Import"] == {"Fn::ImportValue": "shared"}


def test_dates_stay_strings_as_cloudformation_reads_them(tmp_path: Path) -> None:
    props = read_template(write(tmp_path, "t.yaml", TAGS)).body["Resources"]["Thing"]["Properties"]
    assert props["Date"] == "2012-10-17"


def test_every_resource_has_its_one_based_line(tmp_path: Path) -> None:
    template = read_template(write(tmp_path, "t.yaml", TAGS))
    assert template.resource_lines == {"Thing": 2, "Other": 19}
    assert template.origin("Other").line == 19


def test_strings_remember_their_line_and_block_scalars_start_on_the_next_line(tmp_path: Path) -> None:
    text = "Resources:\n  Fn:\n    Type: X\n    Properties:\n      Code: |\n        line one\n      Name: !Sub n\n"
    props = read_template(write(tmp_path, "t.yaml", text)).body["Resources"]["Fn"]["Properties"]
    assert isinstance(props["Code"], SourceStr) and props["Code"].line == 6
    assert line_of(props["Name"]) == 7


def test_json_template_gives_resource_lines(tmp_path: Path) -> None:
    text = '{\n  "Resources": {\n    "A": {"Type": "X"},\n\n    "B": {\n      "Type": "Y"\n    }\n  }\n}\n'
    template = read_template(write(tmp_path, "t.json", text))
    assert template.resource_lines == {"A": 3, "B": 5}
    assert template.body["Resources"]["B"] == {"Type": "Y"}


def test_yaml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "Resources:\n  A:\n    Type: [unclosed\n  B: 1\n")
    with pytest.raises(ConfigError) as caught:
        read_template(path)
    assert caught.value.origin is not None and caught.value.origin.file == path
    assert caught.value.origin.line is not None and caught.value.origin.line >= 3


def test_json_syntax_error_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "t.json", '{\n  "Resources": {\n    "A": ,\n  }\n}\n')
    with pytest.raises(ConfigError) as caught:
        read_template(path)
    assert caught.value.origin is not None and caught.value.origin.line == 3


def test_template_without_resources_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no Resources"):
        read_template(write(tmp_path, "t.yaml", "Description: nothing\n"))
