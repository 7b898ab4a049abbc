// AWS console sign-ins (CloudTrail ConsoleLogin) as ECS documents, enriched with who and where.
//
// Who: `user.full_name` and `user.roles` from the user directory (a JSON-lines file here;
// `users_store` below shows the same store as DynamoDB with a cache in front). Where: `source.as.*` (ASN) and
// `source.geo.*` (city, country, location) from MaxMind databases. The databases here are
// MaxMind's small *test* databases (testdata/mmdb/): point `path` at GeoLite2-ASN.mmdb and
// GeoLite2-City.mmdb for real data. Events that are not console sign-ins are dropped by rule
// (the account counts them).
//
// Reverse DNS (`source.domain`) needs a nameserver: set `nameservers` (e.g. with
// `(import 'console_login.jsonnet') + { nameservers:: ['10.0.0.2'] }`). It is off here, so
// `sluice test` runs without a network; transforms/tests/enrich_pipeline.rs runs it against a
// DNS server on a loopback port, connectors/tests/integration/enrich.rs with DynamoDB too.
//
//   sluice run -c configs/enrich/console_login.jsonnet examples/data/cloudtrail/single-events.jsonl
// Plain objects rather than the sluice.libsonnet constructors: every setting is named.
local insert(target, value) = { type: 'object.insert', target: target, value: value };

local login(user, ip, outcome, extra={}) = {
  eventVersion: '1.09',
  userIdentity: { type: 'IAMUser', principalId: 'AIDAEXAMPLE' + std.asciiUpper(user), arn: 'arn:aws:iam::123456789012:user/' + user, accountId: '123456789012', userName: user },
  eventTime: '2026-11-23T07:02:11Z',
  eventSource: 'signin.amazonaws.com',
  eventName: 'ConsoleLogin',
  awsRegion: 'us-east-1',
  sourceIPAddress: ip,
  userAgent: 'Mozilla/5.0',
  requestParameters: null,
  responseElements: { ConsoleLogin: outcome },
  additionalEventData: { MobileVersion: 'No', MFAUsed: 'Yes' },
  eventID: 'f6fadfa7-e5c1-4b62-9362-da5cc13da58a',
  readOnly: false,
  eventType: 'AwsConsoleSignIn',
  managementEvent: true,
  recipientAccountId: '123456789012',
  eventCategory: 'Management',
} + extra;

// What every enriched sign-in has besides `user` and `source`.
local ecs(outcome) = {
  '@timestamp': '2026-11-23T07:02:11Z',
  cloud: { provider: 'aws', region: 'us-east-1', account: { id: '123456789012' } },
  event: {
    kind: 'event',
    category: ['authentication'],
    type: ['start'],
    action: 'ConsoleLogin',
    provider: 'signin.amazonaws.com',
    id: 'f6fadfa7-e5c1-4b62-9362-da5cc13da58a',
    outcome: outcome,
  },
  user_agent: { original: 'Mozilla/5.0' },
  aws: { cloudtrail: { console_login: { mfa_used: 'Yes' } } },
};

local london = {
  city_name: 'London',
  continent_code: 'EU',
  continent_name: 'Europe',
  country_iso_code: 'GB',
  country_name: 'United Kingdom',
  region_iso_code: 'GB-ENG',
  region_name: 'England',
  location: { lat: 51.5142, lon: -0.0931 },
  timezone: 'Europe/London',
};

local linkoping = {
  city_name: 'Linköping',
  continent_code: 'EU',
  continent_name: 'Europe',
  country_iso_code: 'SE',
  country_name: 'Sweden',
  region_iso_code: 'SE-E',
  region_name: 'Östergötland County',
  location: { lat: 58.4167, lon: 15.6167 },
  timezone: 'Europe/Stockholm',
};

{
  // Nameservers for reverse DNS of the source address (`IP` or `IP:PORT`); none: no lookup.
  nameservers:: [],

  // The user directory. In production, a DynamoDB table with a cache in front, e.g.
  //   users_store:: { type: 'dynamodb', table: 'users', key_attribute: 'user', whole_item: true,
  //                   cache: { capacity: 10000, ttl: '10m' } }
  // (connectors/tests/integration/enrich.rs runs it so against moto).
  users_store:: { type: 'file', path: 'examples/data/users.jsonl', format: 'jsonl', key: 'user' },

  stores: {
    users: $.users_store,
    asn: { type: 'mmdb', path: 'testdata/mmdb/GeoLite2-ASN-Test.mmdb' },
    // The same addresses come back all day: keep decoded City records in memory.
    city: { type: 'mmdb', path: 'testdata/mmdb/GeoLite2-City-Test.mmdb', cache: { capacity: 50000, ttl: '1h' } },
  },

  transforms: [
    { type: 'utility.drop', when: { type: 'none', conditions: [{ type: 'string.eq', source: 'eventName', value: 'ConsoleLogin' }] } },
    { type: 'object.rename', fields: {
      eventTime: '@timestamp',
      eventName: 'event.action',
      eventSource: 'event.provider',
      eventID: 'event.id',
      awsRegion: 'cloud.region',
      recipientAccountId: 'cloud.account.id',
      sourceIPAddress: 'source.ip',
      userAgent: 'user_agent.original',
      errorMessage: 'error.message',
      'userIdentity.userName': 'user.name',
      'responseElements.ConsoleLogin': 'event.outcome',
      'additionalEventData.MFAUsed': 'aws.cloudtrail.console_login.mfa_used',
    } },
    { type: 'object.delete', sources: [
      'eventVersion',
      'userIdentity',
      'requestParameters',
      'responseElements',
      'additionalEventData',
      'readOnly',
      'eventType',
      'managementEvent',
      'eventCategory',
      'tlsDetails',
    ] },
    { type: 'string.to_lower', source: 'event.outcome' },
    insert('event.kind', 'event'),
    insert('event.category', ['authentication']),
    insert('event.type', ['start']),
    insert('cloud.provider', 'aws'),

    // Who: full name and roles from the directory, merged into `user`.
    { type: 'enrich.kv_get', source: 'user.name', target: 'user', store: 'users', merge: true },
    { type: 'object.delete', source: 'user.email' },

    // Where: ASN and geo. CloudTrail puts a service name instead of an address in
    // sourceIPAddress for calls made by AWS services; those pass with the reason in
    // @meta.enrich_errors rather than going to the error route.
    { type: 'enrich.mmdb', source: 'source.ip', stores: ['asn', 'city'], on_error: 'skip' },
  ] + (
    if std.length(self.nameservers) > 0 then [
      {
        type: 'enrich.dns',
        source: 'source.ip',
        target: 'source.domain',
        nameservers: $.nameservers,
        timeout: '500ms',
        on_error: 'skip',
      },
    ] else []
  ),

  tests: [
    {
      name: 'a successful sign-in from London by a known user',
      input: [login('alice', '81.2.69.160', 'Success')],
      expect: [ecs('success') {
        user: { name: 'alice', full_name: 'Alice Lindqvist', roles: ['admin', 'security-auditor'] },
        source: { ip: '81.2.69.160', geo: london },
      }],
    },
    {
      name: 'a failed sign-in from Linköping: ASN and city',
      input: [login('bob', '89.160.20.156', 'Failure', { errorMessage: 'Failed authentication' })],
      expect: [ecs('failure') {
        user: { name: 'bob', full_name: 'Bob Okafor', roles: ['developer'] },
        source: {
          ip: '89.160.20.156',
          as: { number: 29518, organization: { name: 'Bredband2 AB' } },
          geo: linkoping,
        },
        'error': { message: 'Failed authentication' },
      }],
    },
    {
      name: 'an unknown user from a private address: nothing to add',
      input: [login('mallory', '10.0.0.5', 'Failure')],
      expect: [ecs('failure') { user: { name: 'mallory' }, source: { ip: '10.0.0.5' } }],
    },
    {
      name: 'a source that is not an address passes without geo',
      input: [login('carol', 'signin.amazonaws.com', 'Success')],
      expect: [ecs('success') {
        user: { name: 'carol', full_name: 'Carol Chen', roles: ['billing'] },
        source: { ip: 'signin.amazonaws.com' },
      }],
    },
    {
      name: 'other events are dropped',
      input: [{ eventName: 'DescribeInstances', eventTime: '2026-11-23T07:02:11Z' }],
      expect: [],
    },
  ],
}
