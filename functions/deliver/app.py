"""DeliverFunction: SQS delivery queue → deliver each WorkItem to its connector's target, exactly once.

The raw webhook bodies of the batch are archived first (one S3 object per connector), then each record
is delivered. Partial batch responses (`ReportBatchItemFailures`): only the records that failed
transiently (or cannot be read: they reach the DLQ) go back to the queue; Powertools idempotency makes a
redelivered record that already took effect a no-op. Each connector's delivery run is closed with the
batch's outcomes, then the held work of connectors that delivered is released
(invoice_relay.pipeline.deliver_function).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# (Powertools' batch utility is imported above, before anything imports pydantic: when pydantic is already
# loaded, it also builds all of its parser models for type hints, about 30 ms more at every cold start.)
from invoice_relay.pipeline.deliver_function import Batch, idempotency_config

logger = Logger()
tracer = Tracer()
metrics = Metrics()  # per-delivery metrics are single metrics with the connector dimension (a batch mixes)
processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency_config().register_lambda_context(context)
    metrics.add_metric(name="deliver_records", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    batch = Batch()
    batch.begin([(r["messageId"], r["body"]) for r in event.get("Records", [])])

    @tracer.capture_method
    def deliver_record(record: SQSRecord) -> dict[str, Any]:
        return batch.record(record.message_id, record.body, int(record.attributes.approximate_receive_count))

    try:
        response = process_partial_response(
            event=event, record_handler=deliver_record, processor=processor, context=context
        )
    finally:
        batch.finish()
    batch.release_held()
    return response
