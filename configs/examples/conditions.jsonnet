// Conditions on VPC flow records (parsed to fields): TCP flag bits, name lengths, and sampling.
//  - `number.bitwise_and` is true when any of the given bits is set: tcp-flags 2 is SYN, 16 ACK,
//    so "SYN and not ACK" marks a connection attempt that never completed (a scan, or a
//    firewalled port).
//  - `number.length_gt` flags DNS names long enough to carry data out (tunnelling).
//  - `utility.random` keeps a sample of the high-volume ACCEPT/OK records; the seed makes the
//    sample repeatable, which config tests need (leave it out in production).
local s = import 'sluice.libsonnet';

s.pipeline(
  [
    {
      type: 'object.insert',
      target: 'tags',
      value: ['syn_without_ack'],
      when: { type: 'all', conditions: [
        { type: 'number.bitwise_and', source: 'tcp-flags', value: 2 },
        { type: 'none', conditions: [{ type: 'number.bitwise_and', source: 'tcp-flags', value: 16 }] },
      ] },
    },
    {
      type: 'object.insert',
      target: 'tags',
      value: ['long_dns_name'],
      when: { type: 'number.length_gt', source: 'query_name', value: 60, measurement: 'char' },
    },
    {
      type: 'utility.drop',
      when: { type: 'all', conditions: [
        { type: 'string.eq', source: 'action', value: 'ACCEPT' },
        { type: 'number.length_eq', source: 'tags', value: 0 },
        { type: 'none', conditions: [{ type: 'utility.random', probability: 0.5, seed: 42 }] },
      ] },
    },
  ],
  tests=[
    s.test(
      'a SYN without ACK is tagged; SYN-ACK is not',
      [
        { action: 'REJECT', 'tcp-flags': 2, tags: [] },
        { action: 'REJECT', 'tcp-flags': 18, tags: [] },
      ],
      [
        { action: 'REJECT', 'tcp-flags': 2, tags: ['syn_without_ack'] },
        { action: 'REJECT', 'tcp-flags': 18, tags: [] },
      ],
    ),
    s.test(
      'a long DNS name is tagged',
      [{ action: 'REJECT', query_name: 'aGVsbG8gd29ybGQgdGhpcyBpcyBkYXRh.bG9uZ2VyIHRoYW4gc2l4dHk.tunnel.example.com', tags: [] }],
      [{ action: 'REJECT', query_name: 'aGVsbG8gd29ybGQgdGhpcyBpcyBkYXRh.bG9uZ2VyIHRoYW4gc2l4dHk.tunnel.example.com', tags: ['long_dns_name'] }],
    ),
    s.test(
      'plain ACCEPT records are sampled (repeatably, with the seed)',
      [
        { action: 'ACCEPT', n: 1, tags: [] },
        { action: 'ACCEPT', n: 2, tags: [] },
        { action: 'ACCEPT', n: 3, tags: [] },
        { action: 'ACCEPT', n: 4, tags: [] },
        { action: 'ACCEPT', n: 5, tags: [] },
        { action: 'ACCEPT', n: 6, tags: [] },
      ],
      [
        { action: 'ACCEPT', n: 2, tags: [] },
        { action: 'ACCEPT', n: 4, tags: [] },
        { action: 'ACCEPT', n: 6, tags: [] },
      ],
    ),
  ],
)
