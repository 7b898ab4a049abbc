// Batching VPC flow log lines for a bulk sink (OpenSearch _bulk, Firehose, an HTTP collector).
// The source hands over a whole S3 object or CloudWatch Logs blob as one message; it is split
// into lines, the header line is dropped, and the records are batched into JSON arrays under
// `flows`, one batch per account. A batch goes out at 500 records, at 256 KiB, or 10 seconds
// after its first record, on a real timer, so a quiet interface never holds records back.
//   sluice test configs/examples/aggregate.jsonnet
local s = import 'sluice.libsonnet';

local header = 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';
local flow1 = '2 123456789012 eni-0a1b2c3d4e5f60001 81.2.69.160 10.0.1.10 51514 22 6 412 38211 1795414861 1795414920 ACCEPT OK';
local flow2 = '2 123456789012 eni-0a1b2c3d4e5f60001 10.0.1.10 81.2.69.160 22 51514 6 398 61044 1795414861 1795414920 ACCEPT OK';
local flow3 = '2 210987654321 eni-0f9e8d7c6b5a40002 89.160.20.112 10.0.2.20 40022 3389 6 3 180 1795414861 1795414920 REJECT OK';

s.pipeline(
  [
    { type: 'aggregate.from_string', separator: '\n' },
    { type: 'utility.drop', when: { type: 'string.starts_with', value: 'version ' } },
    // The account ID is the second field of a version 2 record.
    { type: 'string.capture', pattern: '^\\S+ (\\S+)', target: '@meta.account' },
    {
      type: 'aggregate.to_array',
      batch: { count: 500, bytes: 262144, duration: '10s' },
      batch_key: '@meta.account',
      target: 'flows',
    },
  ],
  tests=[
    s.test(
      'one object of several lines becomes one array per account, header dropped',
      [std.join('\n', [header, flow1, flow2, flow3]) + '\n'],
      [
        { flows: [flow1, flow2] },
        { flows: [flow3] },
      ],
    ),
    s.test(
      'lines that arrive one by one are batched the same way',
      [flow3, flow1],
      [{ flows: [flow3] }, { flows: [flow1] }],
    ),
    s.test('an empty object gives nothing', [''], []),
  ],
)
