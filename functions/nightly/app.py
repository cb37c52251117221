"""The nightly build on Lambda (Chalice project of its own): plan, shard, finish.

The three functions are the steps of the state machine in ``infra/nightly.json``
(``gridportal.adapters.state_machine``): ``plan`` lists the month shards tonight's
changes touch, the Distributed Map runs ``shard`` once per month, ``finish`` makes the
site-wide pages and metrics, applies the ordered upload and moves the build marker.
Each handler only unpacks the event and calls the publisher; the work itself is the
same code the local build runs in its process pool.

This bundle carries Pelican and the theme; the API's (``functions/``) carries neither.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice

from gridportal.runtime import runtime

app = Chalice(app_name="gridportal-nightly")


@app.lambda_function(name="plan")
def plan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``{"execution": id, "input": {...}}`` → ``{"build": {...}, "shards": [{...}, ...]}``."""
    from gridportal.publish import plan_night

    options = event.get("input") or {}
    result: dict[str, Any] = plan_night(
        runtime(), execution=str(event["execution"]), full=bool(options.get("full", False))
    )
    return result


@app.lambda_function(name="shard")
def shard(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``{"build": {...}, "shard": {...}}`` → a small summary of the month's work."""
    from gridportal.publish import run_shard

    result: dict[str, Any] = run_shard(runtime(), build=event["build"], shard=event["shard"])
    return result


@app.lambda_function(name="finish")
def finish(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``{"build": {...}, "shards": [summaries]}`` → the night's report."""
    from gridportal.publish import finish_night

    result: dict[str, Any] = finish_night(
        runtime(), build=event["build"], shards=list(event["shards"])
    )
    return result
