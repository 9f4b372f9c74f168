"""DeliverFunction: SQS delivery queue → deliver each WorkItem to its connector's API target, exactly once.

Partial batch responses (`ReportBatchItemFailures`): only the records that failed transiently go back to
the queue; Powertools idempotency makes a redelivered record that already took effect a no-op.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from invoice_relay.pipeline.deliver_function import deliver_once, idempotency_config
from invoice_relay.pipeline.work import WorkItem

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def deliver_record(record: SQSRecord) -> dict[str, Any]:
    item = WorkItem.model_validate_json(record.body)
    logger.append_keys(connector_id=item.connector_id, source_id=item.source_id, event_type=item.event_type)
    result = deliver_once(item=item)
    metrics.add_metric(name=f"deliver_{result['status']}", unit=MetricUnit.Count, value=1)
    return result


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency_config().register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=deliver_record, processor=processor, context=context
    )
