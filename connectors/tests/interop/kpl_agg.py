"""The aws_kinesis_agg library (the awslabs Python KPL aggregator) as a peer for Sluice's KPL codec.

    kpl_agg.py aggregate [MAX_SIZE]   stdin: JSON lines {"pk", "ehk" (optional), "data" (base64)}
                                      stdout: one JSON line per aggregated record:
                                      {"pk", "ehk", "data" (base64), "n"}
    kpl_agg.py deaggregate            stdin: one Kinesis record per line, either a base64 blob or
                                      JSON {"pk", "data" (base64)}
                                      stdout: one JSON line per user record:
                                      {"pk", "ehk", "data" (base64), "sub", "aggregated"}

Used by connectors/tests/integration/kpl.rs with the interpreter in .venv
(scripts/setup-test-services installs the library).
"""

import base64
import json
import sys

# Import the aggregator and deaggregator first: they put the package's own folder on sys.path,
# which messages_pb2 needs.
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records


def text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def emit(agg_record):
    pk, ehk, data = agg_record.get_contents()
    print(json.dumps({
        "pk": text(pk),
        "ehk": text(ehk) or None,
        "data": base64.b64encode(data).decode("ascii"),
        "n": agg_record.get_num_user_records(),
    }))


def aggregate(max_size):
    aggregator = RecordAggregator(max_size) if max_size else RecordAggregator()
    for line in sys.stdin:
        if not line.strip():
            continue
        record = json.loads(line)
        data = base64.b64decode(record["data"])
        full = aggregator.add_user_record(record["pk"], data, record.get("ehk"))
        if full is not None:
            emit(full)
    last = aggregator.clear_and_get()
    if last is not None:
        emit(last)


def deaggregate():
    for number, line in enumerate(sys.stdin):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            record = json.loads(line)
            pk, data = record["pk"], record["data"]
        else:
            pk, data = "outer", line
        # The shape of a record in a Lambda Kinesis event.
        event_record = {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": pk,
                "sequenceNumber": str(number),
                "data": data,
                "approximateArrivalTimestamp": 0,
            },
            "eventSource": "aws:kinesis",
        }
        for user in deaggregate_records([event_record]):
            k = user["kinesis"]
            print(json.dumps({
                "pk": text(k["partitionKey"]),
                "ehk": text(k.get("explicitHashKey")),
                "data": text(k["data"]),
                "sub": k.get("subSequenceNumber"),
                "aggregated": bool(k.get("aggregated", False)),
            }))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "aggregate":
        aggregate(int(sys.argv[2]) if len(sys.argv) > 2 else None)
    elif len(sys.argv) == 2 and sys.argv[1] == "deaggregate":
        deaggregate()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
