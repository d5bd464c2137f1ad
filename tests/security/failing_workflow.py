"""A workflow whose first activation fails (a bug, not an ApplicationError): the SDK logs the
failed activation from inside the sandbox and retries the workflow task."""

from __future__ import annotations

from temporalio import workflow

MARK = "deliberate bug in a workflow, for the sandbox logging test"


@workflow.defn(name="SecurityFailingWorkflow", sandboxed=True)
class FailingWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError(MARK)
