// VPC flow anomalies: per five minutes of flow time, the top talkers (the ten source and
// destination pairs that sent the most bytes) and the sources of five or more rejected flows
// (with the distinct ports and addresses they tried).
//
// Input: VPC flow log records (configs/ecs/vpc_flow.jsonnet turns them into ECS documents
// first). Output: one ECS document per ranked pair or denied source and window
// (`event.kind: metric`, `rule.*`, `event.start`/`event.end`, the key fields with their totals,
// `detection.*`), when the window closes: ten minutes of flow time after its end (flow logs
// arrive late and out of order), on the runner's timer when the stream goes quiet, and at end
// of input. The flow documents themselves do not come out.
//
//   sluice run -c configs/detect/vpc_anomalies.jsonnet examples/data/vpcflow/default-v2.log
//
// On Lambda, build it from vpc_anomalies.libsonnet with `on_flush='keep_open'` (see
// docs/detection.md).
local s = import 'sluice.libsonnet';
local anomalies = import 'vpc_anomalies.libsonnet';

// 2026-11-23T06:20:00Z, the start of a window.
local base = 1795414800;

// A v2 record (the default format) whose capture ended `end` seconds after `base`.
local flow(src, dst, sport, dport, packets, bytes, end, action='ACCEPT', eni='eni-0a1b2c3d4e5f60001') =
  '2 123456789012 %s %s %s %d %d 6 %d %d %d %d %s OK'
  % [eni, src, dst, sport, dport, packets, bytes, base + end - 60, base + end, action];

local window(start) = {
  local t(m) = '2026-11-23T06:%02d:00Z' % m,
  '@timestamp': t(start),
  event: { kind: 'metric', start: t(start), end: t(start + 5) },
};

local talker(start, rank, src, dst, bytes, count) = window(start) + {
  rule: {
    id: 'sluice-vpc-top-talkers',
    name: 'vpc_top_talkers',
    description: 'The 10 source/destination pairs that sent the most bytes in 5m.',
  },
  source: { ip: src, bytes: bytes },
  destination: { ip: dst },
  related: { ip: [src, dst] },
  detection: { type: 'top_k', rank: rank, count: count, value: bytes, by: 'source.bytes', window: '5m' },
};

local denied(start, src, count, packets, bytes, ports, addresses) = window(start) + {
  rule: {
    id: 'sluice-vpc-denied-flows',
    name: 'vpc_denied_flows',
    description: 'Sources of 5 or more rejected flows in 5m.',
  },
  source: { ip: src, packets: packets, bytes: bytes },
  related: { ip: [src] },
  detection: {
    type: 'summarize',
    count: count,
    window: '5m',
    distinct: { 'destination.port': ports, 'destination.ip': addresses },
  },
};

local scan = [
  flow('198.51.100.23', '10.0.1.10', 40000 + i, [22, 23, 80, 443, 3389, 8080][i], 1, 44, 60 + i, 'REJECT')
  for i in std.range(0, 5)
];

local tests = [
  s.test('the top talkers of a window, ranked by bytes (pairs summed)', [
    flow('81.2.69.160', '10.0.1.10', 51514, 22, 412, 38211, 60),
    flow('10.0.1.10', '81.2.69.160', 22, 51514, 398, 61044, 60),
    flow('81.2.69.160', '10.0.1.10', 51514, 22, 10, 1000, 120),
    flow('89.160.20.156', '10.0.1.10', 41240, 22, 38, 5120, 180),
  ], [
    talker(20, 1, '10.0.1.10', '81.2.69.160', 61044, 1),
    talker(20, 2, '81.2.69.160', '10.0.1.10', 39211, 2),
    talker(20, 3, '89.160.20.156', '10.0.1.10', 5120, 1),
  ]),

  s.test('a source of five or more rejected flows is reported with the ports it tried', scan + [
    flow('89.160.20.156', '10.0.1.11', 41301, 22, 1, 44, 100, 'REJECT', 'eni-0a1b2c3d4e5f60002'),
    flow('89.160.20.156', '10.0.1.11', 41302, 22, 1, 44, 110, 'REJECT', 'eni-0a1b2c3d4e5f60002'),
  ], [
    // The top talkers come first (they are the first step), then the denied sources.
    talker(20, 1, '198.51.100.23', '10.0.1.10', 264, 6),
    talker(20, 2, '89.160.20.156', '10.0.1.11', 88, 2),
    denied(20, '198.51.100.23', 6, 6, 264, 6, 1),
  ]),

  s.test('each window is reported when the flow time passes its end plus ten minutes', [
    flow('81.2.69.160', '10.0.1.10', 51514, 22, 412, 38211, 60),
    flow('81.2.69.160', '10.0.1.10', 51514, 22, 20, 900, 1260),
  ], [
    talker(20, 1, '81.2.69.160', '10.0.1.10', 38211, 1),
    talker(40, 1, '81.2.69.160', '10.0.1.10', 900, 1),
  ]),

  s.test('records with no data (no addresses) are not reported', [
    '2 123456789012 eni-0a1b2c3d4e5f60001 - - - - - - - 1795414861 1795414920 - NODATA',
  ], []),
];

anomalies.config() + { tests: tests }
