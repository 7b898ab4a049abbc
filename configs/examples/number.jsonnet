// Numbers in VPC flow logs: split a flow record, turn its byte count into kilobytes, work out
// the average packet size, and clamp a bogus negative duration to 0. Integers stay exact
// (a 64-bit ID survives every number transform; the unit tests check that, since Jsonnet's own
// numbers are doubles and cannot spell such IDs in a test).
//   sluice test configs/examples/number.jsonnet
local s = import 'sluice.libsonnet';

s.pipeline(
  [
    s.parse.json(),
    // bytes arrive as a string from the space-separated record; numeric strings count as numbers.
    { type: 'number.divide', source: 'bytes', target: 'network.kilobytes', value: 1024 },
    { type: 'number.round', source: 'network.kilobytes', decimals: 1 },
    { type: 'number.divide', source: 'bytes', target: 'network.avg_packet_bytes', value_from: 'packets' },
    { type: 'number.round', source: 'network.avg_packet_bytes' },
    { type: 'number.subtract', source: 'times', target: 'event.duration_s' },
    { type: 'number.maximum', source: 'event.duration_s', value: 0 },
    { type: 'number.add', source: 'retries', target: 'event.retries' },
    { type: 'object.delete', sources: ['times', 'retries'] },
  ],
  tests=[
    s.test(
      'bytes to kilobytes, average packet size, duration',
      [{ bytes: '4608', packets: 3, times: [1700000060, 1700000000], retries: [1, 2, 0] }],
      [{
        bytes: '4608',
        packets: 3,
        network: { kilobytes: 4.5, avg_packet_bytes: 1536 },
        event: { duration_s: 60, retries: 3 },
      }],
    ),
    s.test(
      'a clock that ran backwards gives a duration of 0, an empty retry list sums to 0',
      [{ bytes: 1024, packets: 1, times: [1700000000, 1700000005], retries: [] }],
      [{
        bytes: 1024,
        packets: 1,
        network: { kilobytes: 1, avg_packet_bytes: 1024 },
        event: { duration_s: 0, retries: 0 },
      }],
    ),
    s.test(
      'a byte count that is not a number goes to the error route',
      [{ bytes: '-', packets: 0 }],
      [],
      errors=1,
    ),
  ],
)
