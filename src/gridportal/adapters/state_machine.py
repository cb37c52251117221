"""The nightly build on AWS: a Step Functions state machine that fans month shards out.

One machine is enough for a district; a city's archive is not. The nightly build is
then three Lambda functions (the ``functions/nightly`` project) tied together by this
state machine (Amazon States Language), rendered from code:

1. **Plan** (``PlanFunctionArn``): which months tonight's changes touch, as a list of
   shard items, and the build's id and time window.
2. **Shards**: a Distributed Map (``Mode: DISTRIBUTED``) runs the shard function
   (``ShardFunctionArn``) once per month, at most ``MAX_CONCURRENCY`` at a time, each in
   a child execution of its own. A month's work is a pure function of its inputs, so a
   shard that failed on a throttled read is simply run again (``Retry``). Any shard
   that still fails fails the map (``ToleratedFailurePercentage: 0``).
3. **Finish** (``FinishFunctionArn``): the site-wide pages and metrics from the shards'
   states, then the ordered upload and, last, the build marker.

A failure anywhere ends in ``BuildFailed`` (a ``Fail`` state) without running Finish:
the build marker stays where it was and the next night redoes the same window. The
Lambda ARNs are template parameters (``${PlanFunctionArn}`` …, filled by
``DefinitionSubstitutions``), so one definition serves every stage.

``infra/nightly-build.asl.json`` (the definition) and ``infra/nightly.json`` (the
CloudFormation stack: state machine, its role and the nightly schedule) are this
module's output, committed; regenerate them with::

    python -m gridportal.adapters.state_machine infra
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

STATE_MACHINE_NAME = "gridportal-nightly-build"
FUNCTION_PARAMETERS = ("PlanFunctionArn", "ShardFunctionArn", "FinishFunctionArn")
MAX_CONCURRENCY = 40  # Lambda shards at once: well under the account's concurrency quota
LAMBDA_TIMEOUT_SECONDS = 900  # the longest a Lambda runs; a task waits no longer
SCHEDULE = "cron(0 18 * * ? *)"  # 18:00 UTC = 02:00 Beijing time
DEFINITION_FILE = "nightly-build.asl.json"
TEMPLATE_FILE = "nightly.json"
FAILED_STATE = "BuildFailed"

# Errors of the Lambda service itself (not of our code): always worth retrying.
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)


def _retries(code_attempts: int) -> list[dict[str, Any]]:
    """Back off on the service's errors; run our own code again ``code_attempts`` times
    (a month's shard is idempotent: it writes the same files for the same inputs)."""
    return [
        {
            "ErrorEquals": list(LAMBDA_SERVICE_ERRORS),
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2.0,
            "JitterStrategy": "FULL",
        },
        {
            "ErrorEquals": ["States.ALL"],
            "IntervalSeconds": 10,
            "MaxAttempts": code_attempts,
            "BackoffRate": 2.0,
        },
    ]


def _catch() -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED_STATE}]


def _invoke(function_parameter: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": f"${{{function_parameter}}}", "Payload": payload},
        "TimeoutSeconds": LAMBDA_TIMEOUT_SECONDS,
        "ResultSelector": {"result.$": "$.Payload"},
    }


def definition(max_concurrency: int = MAX_CONCURRENCY) -> dict[str, Any]:
    """The Amazon States Language definition of the nightly build."""
    plan = _invoke("PlanFunctionArn", {"execution.$": "$$.Execution.Id", "input.$": "$"})
    plan |= {
        "Comment": "Plan: months touched by the changes since the last build.",
        "ResultPath": "$.plan",
        "Retry": _retries(2),
        "Catch": _catch(),
        "Next": "AnyShards",
    }
    shard = _invoke("ShardFunctionArn", {"build.$": "$.build", "shard.$": "$.shard"})
    shard |= {
        "Comment": "One month shard: records, pages, open data and its state.",
        "OutputPath": "$.result",
        "Retry": _retries(2),
        "End": True,
    }
    shards = {
        "Type": "Map",
        "Comment": "Every planned month, each in a child execution on Lambda.",
        "Label": "MonthShards",
        "ItemsPath": "$.plan.result.shards",
        "ItemSelector": {"build.$": "$.plan.result.build", "shard.$": "$$.Map.Item.Value"},
        # No ToleratedFailurePercentage/Count: the default tolerates none, so one shard
        # that still fails after its retries fails the map run.
        "MaxConcurrency": max_concurrency,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "BuildShard",
            "States": {"BuildShard": shard},
        },
        "ResultPath": "$.shards",
        "Catch": _catch(),
        "Next": "Finish",
    }
    finish = _invoke(
        "FinishFunctionArn", {"build.$": "$.plan.result.build", "shards.$": "$.shards"}
    )
    finish |= {
        "Comment": "Site-wide pages, metrics, the ordered upload, then the build marker.",
        "ResultPath": "$.finish",
        "Retry": _retries(1),
        "Catch": _catch(),
        "Next": "Published",
    }
    return {
        "Comment": (
            "Nightly build of the grid transparency portal: plan, month shards in a "
            "Distributed Map, then the site-wide pages and the ordered upload. A failure "
            "anywhere leaves the build marker where it was."
        ),
        "StartAt": "Plan",
        "TimeoutSeconds": 4 * 3600,
        "States": {
            "Plan": plan,
            "AnyShards": {
                "Type": "Choice",
                "Comment": "A night without changed months still refreshes site-wide pages.",
                "Choices": [
                    {"Variable": "$.plan.result.shards[0]", "IsPresent": True, "Next": "Shards"}
                ],
                "Default": "NoShards",
            },
            "NoShards": {"Type": "Pass", "Result": [], "ResultPath": "$.shards", "Next": "Finish"},
            "Shards": shards,
            "Finish": finish,
            "Published": {"Type": "Succeed"},
            FAILED_STATE: {
                "Type": "Fail",
                "Error": "NightlyBuildFailed",
                "Cause": "A step failed after its retries; the build marker was not moved.",
            },
        },
    }


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def template(max_concurrency: int = MAX_CONCURRENCY) -> dict[str, Any]:
    """The CloudFormation stack: the state machine, its role, the nightly schedule."""
    machine_arn = _sub(
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
        + STATE_MACHINE_NAME
    )
    executions = _sub(
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
        + STATE_MACHINE_NAME
        + "/*"
    )
    functions = [{"Ref": name} for name in FUNCTION_PARAMETERS]
    parameters: dict[str, Any] = {
        name: {
            "Type": "String",
            "AllowedPattern": "^arn:aws[a-z-]*:lambda:.+",
            "Description": f"ARN of the nightly {name.removesuffix('FunctionArn').lower()} "
            "function (functions/nightly, chalice package)",
        }
        for name in FUNCTION_PARAMETERS
    }
    parameters["ScheduleExpression"] = {
        "Type": "String",
        "Default": SCHEDULE,
        "Description": "When the nightly build starts (UTC); the default is 02:00 Beijing time",
    }
    assume = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    machine_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": functions},
            {
                # A Distributed Map starts and watches child executions of this machine.
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": machine_arn,
            },
            {
                "Effect": "Allow",
                "Action": ["states:DescribeExecution", "states:StopExecution"],
                "Resource": executions,
            },
        ],
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "Grid transparency portal: the nightly build as a Step Functions state machine "
            "(plan, month shards in a Distributed Map, finish) and its schedule."
        ),
        "Parameters": parameters,
        "Resources": {
            "NightlyBuildRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": assume,
                    "Policies": [{"PolicyName": "nightly-build", "PolicyDocument": machine_policy}],
                },
            },
            "NightlyBuild": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": STATE_MACHINE_NAME,
                    "StateMachineType": "STANDARD",
                    "RoleArn": {"Fn::GetAtt": ["NightlyBuildRole", "Arn"]},
                    "Definition": definition(max_concurrency),
                    "DefinitionSubstitutions": {
                        name: {"Ref": name} for name in FUNCTION_PARAMETERS
                    },
                },
            },
            "ScheduleRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "start-nightly-build",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": "states:StartExecution",
                                        "Resource": {"Ref": "NightlyBuild"},
                                    }
                                ],
                            },
                        }
                    ],
                },
            },
            "NightlySchedule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Description": "Start the nightly build",
                    "ScheduleExpression": {"Ref": "ScheduleExpression"},
                    "State": "ENABLED",
                    "Targets": [
                        {
                            "Id": "nightly-build",
                            "Arn": {"Ref": "NightlyBuild"},
                            "RoleArn": {"Fn::GetAtt": ["ScheduleRole", "Arn"]},
                        }
                    ],
                },
            },
        },
        "Outputs": {
            "NightlyBuildArn": {
                "Value": {"Ref": "NightlyBuild"},
                "Description": "The state machine; start an execution to rebuild now",
            }
        },
    }


def render_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def write(directory: Path) -> list[Path]:
    written = []
    for name, document in ((DEFINITION_FILE, definition()), (TEMPLATE_FILE, template())):
        path = directory / name
        path.write_text(render_json(document), encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "infra")
    for path in write(directory):
        print(path)


if __name__ == "__main__":
    main()
