// Console sign-ins (CloudTrail ECS events) from an ASN a user has not used in 30 days, and
// users failing to sign in ten times in ten minutes (a sliding window moving by a minute). The
// events pass on; the alerts are added after the event that raised them. A user's very first
// sign-in is learned without an alert (`ignore_first`): it has no baseline yet.
//   sluice test configs/examples/detect.jsonnet
local s = import 'sluice.libsonnet';

local eq(field, value) = { type: 'string.eq', source: field, value: value };
local signin(t, user, asn, outcome) = {
  '@timestamp': '2026-11-23T06:%s' % t,
  event: { action: 'ConsoleLogin', outcome: outcome },
  user: { name: user },
  source: { ip: '81.2.69.160', as: { number: asn } },
};
local alert(at, rule, fields) = { '@timestamp': '2026-11-23T06:%s' % at, event: { kind: 'alert' }, rule: rule } + fields;
local new_asn = { id: 'new-asn', name: 'console_signin_from_new_asn' };
local spray = { id: 'signin-failures', name: 'console_signin_failures', description: 'Ten failed console sign-ins in ten minutes' };

s.pipeline(
  [
    {
      type: 'detect.first_seen',
      when: eq('event.outcome', 'success'),
      rule: new_asn,
      key: 'user.name',
      value: 'source.as.number',
      retention: '30d',
      ignore_first: true,
      sample_size: 0,
    },
    {
      type: 'detect.threshold',
      when: eq('event.outcome', 'failure'),
      rule: spray,
      key: 'user.name',
      threshold: 10,
      window: '10m',
      step: '1m',
      sample_size: 0,
      fields: { event: { severity: 73 } },
    },
  ],
  tests=[
    local first = signin('00:00Z', 'alice', 64500, 'success');
    local usual = signin('05:00Z', 'alice', 64500, 'success');
    local other = signin('07:00Z', 'alice', 64511, 'success');
    s.test('a known user from a new ASN raises an alert; her first ASN is learned', [first, usual, other], [
      first,
      usual,
      other,
      alert('07:00Z', new_asn, {
        user: { name: 'alice' },
        source: { as: { number: 64511 } },
        related: { user: ['alice'] },
        detection: { type: 'first_seen', value: 64511, retention: '30d' },
      }),
    ]),

    local fails = [signin('%02d:30Z' % (i + 3), 'bob', 64500, 'failure') for i in std.range(0, 9)];
    s.test('ten failures across two clock windows still alert, once', fails, fails + [
      alert('12:30Z', spray, {
        event+: { start: '2026-11-23T06:03:00Z', end: '2026-11-23T06:13:00Z', severity: 73 },
        user: { name: 'bob' },
        related: { user: ['bob'] },
        detection: { type: 'threshold', count: 10, threshold: 10, window: '10m', step: '1m' },
      }),
    ]),
  ],
)
