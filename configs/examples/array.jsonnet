// ECS `related.*` fields for a detection pipeline: earlier enrichment steps each append the
// addresses and users they found as a list, so `related.ip` arrives as a list of lists with
// repeats. Flatten it, drop the repeats (ECS wants each value once), count the addresses, and
// keep a readable user list for the alert text.
//   sluice test configs/examples/array.jsonnet
local s = import 'sluice.libsonnet';

s.pipeline(
  [
    { type: 'array.flatten', source: 'related.ip' },
    { type: 'array.dedupe', source: 'related.ip' },
    { type: 'array.dedupe', source: 'related.user' },
    { type: 'array.length', source: 'related.ip', target: 'labels.related_ip_count' },
    { type: 'array.join', source: 'related.user', target: 'labels.users', separator: ', ' },
  ],
  tests=[
    s.test(
      'lists from several enrichers become one list of unique values',
      [{
        source: { ip: '10.0.1.10' },
        destination: { ip: '81.2.69.160' },
        related: { ip: [['10.0.1.10', '81.2.69.160'], ['10.0.1.10'], []], user: ['alice', 'root', 'alice'] },
      }],
      [{
        source: { ip: '10.0.1.10' },
        destination: { ip: '81.2.69.160' },
        related: { ip: ['10.0.1.10', '81.2.69.160'], user: ['alice', 'root'] },
        labels: { related_ip_count: 2, users: 'alice, root' },
      }],
    ),
    s.test(
      'an event without related users keeps going',
      [{ related: { ip: [['89.160.20.112']] } }],
      [{ related: { ip: ['89.160.20.112'] }, labels: { related_ip_count: 1 } }],
    ),
    s.test(
      'a related.ip that is not a list goes to the error route',
      [{ related: { ip: '10.0.1.10' } }],
      [],
      errors=1,
    ),
  ],
)
