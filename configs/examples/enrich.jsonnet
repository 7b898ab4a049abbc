// Enrich: remember and count what was seen, to flag what is new or too frequent.
//
// Over ECS sign-in events (e.g. the output of configs/enrich/console_login.jsonnet), flag the
// first sign-in of a user from an address and count each user's failed sign-ins in an hour.
// The `seen` store is in memory here; a DynamoDB store shares the same state between
// processes and Lambda invocations. Writes to one key stay in event order, so the counts and
// flags are the same however a batch is split.
//
// Within one batch each step sees the whole batch before the next step starts: a `kv_get`
// placed after a `kv_set` reads what the whole batch wrote.
//
//   sluice run -c configs/examples/enrich.jsonnet signins.jsonl
local failed = { type: 'string.eq', source: 'event.outcome', value: 'failure' };

{
  stores: {
    // Entries expire after a day unless a transform says otherwise.
    seen: { type: 'memory', capacity: 100000, ttl: '24h' },
  },

  transforms: [
    // `true` the first time a user signs in from an address (within a day), else `false`.
    {
      type: 'enrich.kv_set_add',
      store: 'seen',
      key: 'user.name',
      prefix: 'addresses:',
      source: 'source.ip',
      target: 'detection.new_source_for_user',
    },
    // Failed sign-ins per user, in a one-hour window that starts with the first failure.
    {
      type: 'enrich.kv_incr',
      store: 'seen',
      key: 'user.name',
      prefix: 'failures:',
      ttl: '1h',
      target: 'detection.failed_sign_ins_this_hour',
      when: failed,
    },
    // The last address each user signed in from, for lookups by later pipelines.
    { type: 'enrich.kv_set', store: 'seen', key: 'user.name', prefix: 'last_address:', source: 'source.ip' },
  ],

  tests: [
    {
      name: 'a new address is flagged once; failures are counted per user',
      input: [
        { user: { name: 'bob' }, source: { ip: '89.160.20.156' }, event: { outcome: 'failure' } },
        { user: { name: 'bob' }, source: { ip: '89.160.20.156' }, event: { outcome: 'failure' } },
        { user: { name: 'alice' }, source: { ip: '89.160.20.156' }, event: { outcome: 'failure' } },
        { user: { name: 'bob' }, source: { ip: '81.2.69.160' }, event: { outcome: 'success' } },
      ],
      expect: [
        { user: { name: 'bob' }, source: { ip: '89.160.20.156' }, event: { outcome: 'failure' }, detection: { new_source_for_user: true, failed_sign_ins_this_hour: 1 } },
        { user: { name: 'bob' }, source: { ip: '89.160.20.156' }, event: { outcome: 'failure' }, detection: { new_source_for_user: false, failed_sign_ins_this_hour: 2 } },
        { user: { name: 'alice' }, source: { ip: '89.160.20.156' }, event: { outcome: 'failure' }, detection: { new_source_for_user: true, failed_sign_ins_this_hour: 1 } },
        { user: { name: 'bob' }, source: { ip: '81.2.69.160' }, event: { outcome: 'success' }, detection: { new_source_for_user: true } },
      ],
    },
    {
      name: 'events without a user pass unchanged',
      input: [{ source: { ip: '10.0.0.1' } }],
      expect: [{ source: { ip: '10.0.0.1' } }],
    },
  ],
}
