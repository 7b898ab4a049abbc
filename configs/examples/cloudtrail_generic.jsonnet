// CloudTrail to Elastic Common Schema (ECS 8.x), written with the general transforms.
//
// configs/ecs/cloudtrail.jsonnet does the same with one `object.template` (a declarative
// template built in one pass, faster) and passes the same tests; this version shows how such a
// mapping is built from steps.
//
// Input, as AWS delivers it: S3 log files (`{"Records": [...]}`, usually gzipped: `sluice run`
// unzips them), single events one per line (CloudWatch Logs), or EventBridge envelopes
// ("detail-type": "AWS API Call via CloudTrail"). Each event keeps its raw text in
// `event.original` with its SHA-256 in `event.hash`; anything that is not a CloudTrail record
// goes to the error route with the reason.
//
//   sluice run -c configs/examples/cloudtrail_generic.jsonnet examples/data/cloudtrail/single-events.jsonl
local s = import 'sluice.libsonnet';
local tests = import 'ecs/cloudtrail_tests.libsonnet';

local verbs = {
  Create: ['creation'],
  Delete: ['deletion'],
} + {
  [verb]: ['change']
  for verb in ['Put', 'Update', 'Modify', 'Attach', 'Detach', 'Authorize', 'Revoke', 'Add', 'Remove', 'Set', 'Enable', 'Disable']
};

local when(c) = s.when(c);
local has(path) = s.cond.exists(path);
local is(path, value) = s.cond.string.eq(path, value);
local identity(type) = is('aws.cloudtrail.user_identity.type', type);
// Objects become JSON text; a null is dropped, as Elastic drops empty values.
local as_json_text(path) = [
  s.format.json(path, settings=when(s.cond.type_of(path, 'object'))),
  s.object.delete(path, settings=when(s.cond.type_of(path, 'null'))),
];

{
  stores: {
    // eventName -> {category, type} where the name's prefix is not enough.
    categories: { type: 'table', values: import 'ecs/cloudtrail_categories.libsonnet' },
    // The verb an event name starts with -> event.type, for names the table does not know.
    verbs: { type: 'table', values: verbs },
  },

  transforms: [
    // One message per event; S3 files hold many. Events stay unparsed until read.
    s.parse.json(settings={ expand: true }),
    s.object.copy('', '@meta.original'),
    // EventBridge wraps the record in `detail`.
    s.object.copy('detail', '', when(has('detail-type'))),
    s.utility.err('not a CloudTrail record: eventTime, eventName or eventSource is missing', when(
      s.cond.any([s.cond.none([has('eventTime')]), s.cond.none([has('eventName')]), s.cond.none([has('eventSource')])])
    )),

    s.utility.err('not a CloudTrail record: userIdentity is not an object', when(
      s.cond.all([has('userIdentity'), s.cond.none([s.cond.type_of('userIdentity', 'object')])])
    )),

    // The fields ECS names directly.
    s.object.rename({
      eventTime: '@timestamp',
      eventName: 'event.action',
      eventSource: 'event.provider',
      eventID: 'event.id',
      awsRegion: 'cloud.region',
      sourceIPAddress: 'source.address',
      userAgent: 'user_agent.original',
      errorCode: 'error.code',
      errorMessage: 'error.message',
      'tlsDetails.cipherSuite': 'tls.cipher',
      'tlsDetails.clientProvidedHostHeader': 'tls.client.server_name',
      'tlsDetails.tlsVersion': '@meta.tls_version',
      eventVersion: 'aws.cloudtrail.event_version',
      eventType: 'aws.cloudtrail.event_type',
      eventCategory: 'aws.cloudtrail.event_category',
      readOnly: 'aws.cloudtrail.read_only',
      managementEvent: 'aws.cloudtrail.management_event',
      recipientAccountId: 'aws.cloudtrail.recipient_account_id',
      requestID: 'aws.cloudtrail.request_id',
      resources: 'aws.cloudtrail.resources',
      sharedEventID: 'aws.cloudtrail.shared_event_id',
      vpcEndpointId: 'aws.cloudtrail.vpc_endpoint_id',
      sessionCredentialFromConsole: 'aws.cloudtrail.session_credential_from_console',
      userIdentity: 'aws.cloudtrail.user_identity',
      requestParameters: 'aws.cloudtrail.request_parameters',
      responseElements: 'aws.cloudtrail.response_elements',
      additionalEventData: 'aws.cloudtrail.additional_eventdata',
      serviceEventDetails: 'aws.cloudtrail.service_event_details',
    }),
    s.object.delete(settings={ sources: ['tlsDetails'] }),
    s.time.from_string('rfc3339', '@timestamp'),

    // A console sign-in says how it went in its response.
    s.object.copy('aws.cloudtrail.response_elements.ConsoleLogin', '@meta.console_login'),

    // Request and response parameters are kept as JSON text, as Elastic does: their shapes
    // differ per API and would explode an index's mapping.
  ] + std.flattenArrays([
    as_json_text('aws.cloudtrail.' + field)
    for field in ['request_parameters', 'response_elements', 'additional_eventdata', 'service_event_details']
  ]) + [

    // Who: the identity's shape depends on its type.
    s.object.copy('aws.cloudtrail.user_identity.principalId', 'user.id'),
    s.meta.switch(settings={ cases: [
      {
        when: identity('AssumedRole'),
        transforms: [
          s.string.capture('assumed-role/(?P<role>[^/]+)/(?P<session>.+)$', 'aws.cloudtrail.user_identity.arn', '@meta.role', { mode: 'named' }),
          s.object.copy('@meta.role.session', 'user.name'),
          s.object.copy('@meta.role.role', 'user.roles.-1'),
        ],
      },
      {
        when: identity('FederatedUser'),
        transforms: [s.string.capture('federated-user/(.+)$', 'aws.cloudtrail.user_identity.arn', 'user.name')],
      },
      { when: identity('Root'), transforms: [s.object.insert('user.name', 'root')] },
      { when: identity('AWSService'), transforms: [s.object.copy('aws.cloudtrail.user_identity.invokedBy', 'user.name')] },
      { transforms: [s.object.copy('aws.cloudtrail.user_identity.userName', 'user.name')] },
    ] }),
    // IAM Identity Center (SSO) sessions and SAML users are named by their e-mail address.
    s.object.copy('user.name', 'user.email', when(s.cond.string.match('^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$', 'user.name'))),
    s.object.copy('aws.cloudtrail.user_identity.accountId', 'cloud.account.id'),
    s.object.copy('aws.cloudtrail.recipient_account_id', 'cloud.account.id', when(s.cond.none([has('cloud.account.id')]))),

    // Where from: an address, or the name of the AWS service that made the call.
    s.object.copy('source.address', 'source.ip', when(s.cond.network.ip.valid('source.address'))),
    s.object.copy('source.address', 'source.domain', when(s.cond.none([has('source.ip'), s.cond.none([has('source.address')])]))),

    // TLS: "TLSv1.3" is protocol "tls", version "1.3".
    s.string.capture('^TLSv(.+)$', '@meta.tls_version', 'tls.version'),
    s.object.insert('tls.version_protocol', 'tls', when(has('tls.version'))),

    // What happened, and did it work.
    s.object.insert('event.kind', 'event'),
    s.object.insert('event.outcome', 'success'),
    s.object.insert('event.outcome', 'failure', when(has('error.code'))),
    s.object.copy('@meta.console_login', 'event.outcome', when(has('@meta.console_login'))),
    s.string.to_lower('event.outcome', settings=when(has('@meta.console_login'))),
    // Categories by prefix, then by name from the table (the table wins).
    s.object.insert('event.category', ['configuration']),
    s.object.insert('event.type', ['info']),
    s.string.capture('^(' + std.join('|', std.objectFields(verbs)) + ')', 'event.action', '@meta.verb'),
    s.enrich.kv_get('@meta.verb', 'event.type', 'verbs'),
    s.enrich.kv_get('event.action', 'event', 'categories', settings={ merge: true }),

    // Where: the cloud.
    s.object.insert('cloud.provider', 'aws'),
    s.string.replace('.amazonaws.com', 'event.provider', 'cloud.service.name', { replacement: '' }),

    // Related entities, for pivoting.
    s.object.copy('source.ip', 'related.ip.-1'),
    s.object.copy('user.name', 'related.user.-1'),

    // The raw event and its fingerprint.
    s.object.copy('@meta.original', 'event.original'),
    s.hash.sha256('event.original', 'event.hash'),
  ],

  tests: tests,
}
