// Times into ECS @timestamp: CloudTrail's eventTime (RFC 3339) and VPC flow logs' start and
// end (Unix seconds, as strings from the split record). Then two uses of the time: an S3
// partition prefix (yyyy/mm/dd in UTC) and a DynamoDB TTL 30 days after the event.
// Inside a pipeline a time is always an RFC 3339 string in UTC (see transforms/src/time.rs).
//   sluice test configs/examples/time.jsonnet
local s = import 'sluice.libsonnet';

s.pipeline(
  [
    s.parse.json(),
    // CloudTrail
    { type: 'time.from_string', source: 'eventTime', target: '@timestamp', format: 'rfc3339' },
    // VPC flow logs
    { type: 'time.from_unix', source: 'start', target: 'event.start' },
    { type: 'time.from_unix', source: 'end', target: 'event.end' },
    { type: 'object.copy', source: 'event.start', target: '@timestamp' },
    // Uses of @timestamp
    { type: 'time.to_string', source: '@timestamp', target: '@meta.s3_prefix', format: '%Y/%m/%d' },
    { type: 'object.copy', source: '@meta.s3_prefix', target: 'partition' },
    { type: 'time.to_unix', source: '@timestamp', target: 'ttl' },
    { type: 'number.add', source: 'ttl', value: 30 * 24 * 3600 },
  ],
  tests=[
    s.test(
      'CloudTrail eventTime becomes @timestamp',
      [{ eventName: 'ConsoleLogin', eventTime: '2026-11-23T06:25:01Z' }],
      [{
        eventName: 'ConsoleLogin',
        eventTime: '2026-11-23T06:25:01Z',
        '@timestamp': '2026-11-23T06:25:01Z',
        partition: '2026/11/23',
        ttl: 1795415101 + 30 * 24 * 3600,
      }],
    ),
    s.test(
      'VPC flow epoch seconds become event.start, event.end and @timestamp',
      [{ srcaddr: '10.0.0.5', start: '1700000000', end: '1700000060' }],
      [{
        srcaddr: '10.0.0.5',
        start: '1700000000',
        end: '1700000060',
        event: { start: '2023-11-14T22:13:20Z', end: '2023-11-14T22:14:20Z' },
        '@timestamp': '2023-11-14T22:13:20Z',
        partition: '2023/11/14',
        ttl: 1700000000 + 30 * 24 * 3600,
      }],
    ),
    s.test(
      'an eventTime that is not a time goes to the error route',
      [{ eventName: 'ConsoleLogin', eventTime: 'yesterday' }],
      [],
      errors=1,
    ),
  ],
)
