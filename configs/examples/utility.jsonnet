// Cutting CloudTrail noise before it reaches the SIEM:
// - an event without `eventTime` is broken upstream: send it to the error route with a reason;
// - DescribeInstances is polled by every inventory tool: keep one call in 10;
// - a failed console login raises an alert once per source address per hour, not once per try
//   (the memory store remembers addresses; a DynamoDB store would share them across Lambdas);
// - count what goes out, as a metric message at each control message and at end of input.
//   sluice test configs/examples/utility.jsonnet
local s = import 'sluice.libsonnet';

local failedLogin(ip, time) = {
  eventTime: time,
  eventName: 'ConsoleLogin',
  sourceIPAddress: ip,
  responseElements: { ConsoleLogin: 'Failure' },
};
local describe(n) = { eventTime: '2026-11-23T06:25:0%dZ' % n, eventName: 'DescribeInstances', requestID: 'r%d' % n };
local outMetric(n) = { name: 'cloudtrail_events_out', value: n, attributes: { pipeline: 'cloudtrail' } };

s.pipeline(
  [
    {
      type: 'utility.err',
      message: 'eventTime is missing: CloudTrail events always carry it, so the record is damaged',
      when: { type: 'none', conditions: [{ type: 'exists', source: 'eventTime' }] },
    },
    { type: 'utility.sample', rate: 10, when: { type: 'string.eq', source: 'eventName', value: 'DescribeInstances' } },
    {
      type: 'utility.dedupe',
      store: 'alerted',
      key: 'sourceIPAddress',
      ttl: '1h',
      when: { type: 'string.eq', source: 'responseElements.ConsoleLogin', value: 'Failure' },
    },
    { type: 'utility.metric_count', metric: { name: 'cloudtrail_events_out', attributes: { pipeline: 'cloudtrail' } } },
  ],
  settings={ stores: { alerted: { type: 'memory', capacity: 100000 } } },
  tests=[
    s.test(
      'one DescribeInstances call in 10 is kept, other events all pass',
      [describe(1), describe(2), describe(3), { eventTime: '2026-11-23T06:25:09Z', eventName: 'GetObject' }],
      [describe(1), { eventTime: '2026-11-23T06:25:09Z', eventName: 'GetObject' }, outMetric(2)],
    ),
    s.test(
      'repeated failed logins from one address alert once',
      [
        failedLogin('89.160.20.156', '2026-11-23T06:25:01Z'),
        failedLogin('89.160.20.156', '2026-11-23T06:25:04Z'),
        failedLogin('81.2.69.160', '2026-11-23T06:25:05Z'),
        failedLogin('89.160.20.156', '2026-11-23T06:25:09Z'),
      ],
      [
        failedLogin('89.160.20.156', '2026-11-23T06:25:01Z'),
        failedLogin('81.2.69.160', '2026-11-23T06:25:05Z'),
        outMetric(2),
      ],
    ),
    s.test('an event without eventTime goes to the error route', [{ eventName: 'GetObject' }], [outMetric(0)], errors=1),
  ],
)
