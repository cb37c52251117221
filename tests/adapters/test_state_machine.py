"""The nightly build's state machine: committed as rendered, every path well formed,
failures never reach the step that moves the build marker, accepted by moto."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from gridportal.adapters import state_machine
from gridportal.adapters.state_machine import (
    FAILED_STATE,
    FUNCTION_PARAMETERS,
    SCHEDULE,
    definition,
    render_json,
    template,
)

INFRA = Path(__file__).resolve().parents[2] / "infra"
REGION = "cn-north-1"


def targets(state: Mapping[str, Any]) -> list[str]:
    """Every state this one can go to: Next, a Choice's branches and Default, Catch."""
    out = [state["Next"]] if "Next" in state else []
    out += [choice["Next"] for choice in state.get("Choices", ())]
    out += [state["Default"]] if "Default" in state else []
    out += [catch["Next"] for catch in state.get("Catch", ())]
    return out


def terminal(state: Mapping[str, Any]) -> bool:
    return state["Type"] in ("Succeed", "Fail") or state.get("End") is True


def machines(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The machine and every nested one (a Map's ItemProcessor)."""
    yield document
    for state in document["States"].values():
        if "ItemProcessor" in state:
            yield from machines(state["ItemProcessor"])


def reachable(document: Mapping[str, Any], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += targets(document["States"][name])
    return seen


def tasks(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for machine in machines(document):
        yield from (s for s in machine["States"].values() if s["Type"] == "Task")


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return definition()


def test_the_committed_files_are_the_rendered_ones() -> None:
    for name, document in (
        (state_machine.DEFINITION_FILE, definition()),
        (state_machine.TEMPLATE_FILE, template()),
    ):
        assert (INFRA / name).read_text(encoding="utf-8") == render_json(document), (
            f"infra/{name} is out of date; regenerate with "
            "`python -m gridportal.adapters.state_machine infra`"
        )


def test_every_state_is_reachable_and_every_target_exists(asl: dict[str, Any]) -> None:
    for machine in machines(asl):
        names = set(machine["States"])
        for state in machine["States"].values():
            assert set(targets(state)) <= names
            assert targets(state) or terminal(state), state
        assert reachable(machine, machine["StartAt"]) == names
        # From every state, the machine can end.
        for name in names:
            assert any(terminal(machine["States"][n]) for n in reachable(machine, name))


def test_the_shards_run_in_a_distributed_map_on_lambda(asl: dict[str, Any]) -> None:
    maps = [s for s in asl["States"].values() if s["Type"] == "Map"]
    assert len(maps) == 1
    (shards,) = maps
    processor = shards["ItemProcessor"]
    assert processor["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert isinstance(shards["MaxConcurrency"], int) and 0 < shards["MaxConcurrency"] <= 1000
    (shard,) = processor["States"].values()
    assert shard["Parameters"]["FunctionName"] == "${ShardFunctionArn}"
    assert any("States.ALL" in r["ErrorEquals"] for r in shard["Retry"])
    assert [c["Next"] for c in shards["Catch"]] == [FAILED_STATE]
    assert "ToleratedFailurePercentage" not in shards  # the default: none tolerated
    assert "ToleratedFailureCount" not in shards


def test_a_failure_anywhere_fails_the_night_before_the_marker_moves(asl: dict[str, Any]) -> None:
    states = asl["States"]
    assert states[FAILED_STATE]["Type"] == "Fail"
    for name, state in states.items():
        if state["Type"] in ("Task", "Map"):
            assert [c["Next"] for c in state["Catch"]] == [FAILED_STATE], name
            assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"]
    # Only Finish (which moves the marker last) leads to success, and no failure leads to it.
    (succeed,) = [n for n, s in states.items() if s["Type"] == "Succeed"]
    assert [n for n, s in states.items() if succeed in targets(s)] == ["Finish"]
    assert "Finish" not in reachable(asl, FAILED_STATE)
    assert reachable(asl, "Finish") == {"Finish", succeed, FAILED_STATE}
    # A night with no changed month still runs Finish (site-wide pages, the marker).
    assert "Finish" in reachable(asl, states["AnyShards"]["Default"])


def test_the_lambda_arns_are_parameters_of_the_template(asl: dict[str, Any]) -> None:
    names = [t["Parameters"]["FunctionName"] for t in tasks(asl)]
    assert sorted(names) == sorted(f"${{{p}}}" for p in FUNCTION_PARAMETERS)
    assert "arn:aws:lambda" not in json.dumps(asl)
    stack = template()
    machine = stack["Resources"]["NightlyBuild"]["Properties"]
    assert machine["Definition"] == asl
    assert machine["DefinitionSubstitutions"] == {p: {"Ref": p} for p in FUNCTION_PARAMETERS}
    for name in FUNCTION_PARAMETERS:
        assert stack["Parameters"][name]["Type"] == "String"
    statements = stack["Resources"]["NightlyBuildRole"]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    (invoke,) = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    assert invoke["Resource"] == [{"Ref": p} for p in FUNCTION_PARAMETERS]


def test_the_schedule_starts_the_machine_at_two_in_the_morning_beijing_time() -> None:
    stack = template()
    assert stack["Parameters"]["ScheduleExpression"]["Default"] == SCHEDULE
    assert SCHEDULE == "cron(0 18 * * ? *)"  # 18:00 UTC
    rule = stack["Resources"]["NightlySchedule"]["Properties"]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "NightlyBuild"}
    refs = json.dumps(stack)
    for name in stack["Parameters"]:
        assert f'{{"Ref": "{name}"}}' in refs, f"parameter {name} is never used"


def _substituted(document: dict[str, Any]) -> str:
    text = json.dumps(document)
    for name in FUNCTION_PARAMETERS:
        function = name.removesuffix("FunctionArn").lower()
        arn = f"arn:aws-cn:lambda:{REGION}:123456789012:function:gridportal-nightly-{function}"
        text = text.replace(f"${{{name}}}", arn)
    return text


@mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
def test_moto_accepts_the_definition_and_refuses_a_broken_one(
    asl: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("stepfunctions", region_name=REGION)
    role = "arn:aws-cn:iam::123456789012:role/nightly-build"
    created = client.create_state_machine(
        name=state_machine.STATE_MACHINE_NAME, definition=_substituted(asl), roleArn=role
    )
    described = client.describe_state_machine(stateMachineArn=created["stateMachineArn"])
    assert json.loads(described["definition"]) == json.loads(_substituted(asl))
    broken = json.loads(_substituted(asl))
    broken["States"]["Shards"]["ItemProcessor"]["ProcessorConfig"]["Mode"] = "SIDEWAYS"
    with pytest.raises(ClientError, match="DISTRIBUTED"):  # the ASL parser names the modes
        client.create_state_machine(name="broken", definition=json.dumps(broken), roleArn=role)
