"""A failed workflow activation is logged readably: the SDK logs it from inside the workflow
sandbox, where the log renderer must work (rich could not: `Cannot access os.path`)."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from tests.security.failing_workflow import MARK, FailingWorkflow
from tests.security.logcapture import captured_logs
from worker import workflow_runner


async def test_a_failed_workflow_activation_is_logged_with_its_traceback(
    temporal_client: Client,
):
    queue = f"security-sandbox-{uuid.uuid4().hex[:8]}"
    with captured_logs() as logs:
        async with Worker(
            temporal_client,
            task_queue=queue,
            workflows=[FailingWorkflow],
            workflow_runner=workflow_runner(),  # the claim worker's sandbox, as configured
        ):
            handle = await temporal_client.start_workflow(
                FailingWorkflow.run, id=f"security-failing-{uuid.uuid4()}", task_queue=queue
            )
            try:
                for _ in range(100):
                    if "Failed activation" in logs.getvalue():
                        break
                    await asyncio.sleep(0.1)
            finally:
                await handle.terminate("test over")
    text = logs.getvalue()
    assert "Failed activation on workflow SecurityFailingWorkflow" in text, text[-3000:]
    assert "RestrictedWorkflowAccessError" not in text
    # The SDK's traceback is there, readable: the error and where it was raised.
    assert "Traceback (most recent call last)" in text
    assert f"RuntimeError: {MARK}" in text
    assert "failing_workflow.py" in text
