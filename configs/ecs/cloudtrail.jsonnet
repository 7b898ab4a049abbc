// CloudTrail to Elastic Common Schema (ECS 8.x).
//
// Input, as AWS delivers it: S3 log files (`{"Records": [...]}`, usually gzipped: `sluice run`
// unzips them), single events one per line (CloudWatch Logs), or EventBridge envelopes
// ("detail-type": "AWS API Call via CloudTrail"). Each event keeps its raw text in
// `event.original` with its SHA-256 in `event.hash`; anything that is not a CloudTrail record
// goes to the error route with the reason.
//
// The mapping is one `object.template` (docs/transforms.md): each ECS field and the record's
// fields it comes from, built in one pass. The category tables (cloudtrail_categories.libsonnet
// and `verbs` below) are the part to extend. configs/examples/cloudtrail_generic.jsonnet is the
// same mapping written as one general transform per field, and passes the same tests.
//
//   sluice run -c configs/ecs/cloudtrail.jsonnet examples/data/cloudtrail/single-events.jsonl
local s = import 'sluice.libsonnet';
local tests = import 'cloudtrail_tests.libsonnet';

// eventName -> {category, type} where the name's verb is not enough.
local categories = import 'cloudtrail_categories.libsonnet';

// The verb an event name starts with -> event.type, for names the table does not know.
local verbs = {
  Create: ['creation'],
  Delete: ['deletion'],
} + {
  [verb]: ['change']
  for verb in ['Put', 'Update', 'Modify', 'Attach', 'Detach', 'Authorize', 'Revoke', 'Add', 'Remove', 'Set', 'Enable', 'Disable']
};
// A verb is a whole word: `Put` of `PutBucketPolicy`, not of `Putative`.
local verb = '^(' + std.join('|', std.objectFields(verbs)) + ')(?:[A-Z]|$)';

local has(path) = s.cond.exists(path);
local identity(type) = s.cond.string.eq('userIdentity.type', type);

// The first expression whose identity type matches, else `otherwise`: a chain of when/else.
local by_identity(cases, otherwise) = std.foldr(
  function(case, rest) case[1] { when: identity(case[0]), 'else': rest }, cases, otherwise
);

// Who: the identity's shape depends on its type. Used for three fields, computed once.
local user_name = by_identity([
  ['AssumedRole', { path: 'userIdentity.arn', capture: 'assumed-role/[^/]+/(.+)$' }],  // the session
  ['FederatedUser', { path: 'userIdentity.arn', capture: 'federated-user/(.+)$' }],
  ['Root', { value: 'root' }],
  ['AWSService', { path: 'userIdentity.invokedBy' }],
], 'userIdentity.userName');
local source_ip = { path: 'sourceIPAddress', if_ip: true };

// The text the event arrived as: an EventBridge envelope's is kept in @meta before unwrapping.
local original = { coalesce: ['@meta.original', { original: true }] };

// Top-level fields kept under aws.cloudtrail; the parameter objects as JSON text, as Elastic
// does: their shapes differ per API and would explode an index's mapping.
local aws_fields = {
  eventVersion: 'event_version',
  eventType: 'event_type',
  eventCategory: 'event_category',
  readOnly: 'read_only',
  managementEvent: 'management_event',
  recipientAccountId: 'recipient_account_id',
  requestID: 'request_id',
  resources: 'resources',
  sharedEventID: 'shared_event_id',
  vpcEndpointId: 'vpc_endpoint_id',
  sessionCredentialFromConsole: 'session_credential_from_console',
  userIdentity: 'user_identity',
};
local aws_text_fields = {
  requestParameters: 'request_parameters',
  responseElements: 'response_elements',
  additionalEventData: 'additional_eventdata',
  serviceEventDetails: 'service_event_details',
};
// Fields a record does not usually have stay where they are (`rest` below), except those named
// like a top-level ECS field of the output, which go under aws.cloudtrail instead of clashing.
local output_names = ['@timestamp', '@meta', 'aws', 'cloud', 'error', 'event', 'related', 'source', 'tls', 'user', 'user_agent'];

local ecs = {
  '@timestamp': { path: 'eventTime', convert: 'rfc3339' },

  // What happened, and did it work.
  'event.action': 'eventName',
  'event.provider': 'eventSource',
  'event.id': 'eventID',
  'event.kind': { value: 'event' },
  'event.outcome': { coalesce: [
    // A console sign-in says how it went in its response.
    { path: 'responseElements.ConsoleLogin', lowercase: true },
    { value: 'failure', when: has('errorCode') },
    { value: 'success' },
  ] },
  // Categories by name from the table, else by the verb the name starts with.
  'event.category': {
    path: 'eventName',
    map: { [name]: categories[name].category for name in std.objectFields(categories) if 'category' in categories[name] },
    default: ['configuration'],
  },
  'event.type': {
    coalesce: [
      { path: 'eventName', map: { [name]: categories[name].type for name in std.objectFields(categories) if 'type' in categories[name] } },
      { path: 'eventName', capture: verb, map: verbs },
    ],
    default: ['info'],
  },
  'event.original': original,
  'event.hash': { sha256: original },

  // Where: the cloud.
  'cloud.provider': { value: 'aws' },
  'cloud.region': 'awsRegion',
  'cloud.account.id': { coalesce: ['userIdentity.accountId', 'recipientAccountId'] },
  'cloud.service.name': { path: 'eventSource', strip_suffix: '.amazonaws.com' },

  'error.code': 'errorCode',
  'error.message': 'errorMessage',

  'user.id': 'userIdentity.principalId',
  'user.name': user_name,
  // IAM Identity Center (SSO) sessions and SAML users are named by their e-mail address.
  'user.email': { coalesce: [user_name], if_match: @'^[^@\s]+@[^@\s]+\.[^@\s]+$' },
  'user.roles': { array: [
    { path: 'userIdentity.arn', capture: 'assumed-role/([^/]+)/.+$', when: identity('AssumedRole') },
  ] },

  // Where from: an address, or the name of the AWS service that made the call.
  'source.address': 'sourceIPAddress',
  'source.ip': source_ip,
  'source.domain': { path: 'sourceIPAddress', if_ip: false },

  // TLS: "TLSv1.3" is protocol "tls", version "1.3".
  'tls.cipher': 'tlsDetails.cipherSuite',
  'tls.client.server_name': 'tlsDetails.clientProvidedHostHeader',
  'tls.version': { path: 'tlsDetails.tlsVersion', capture: '(?s)^TLSv(.+)$' },
  'tls.version_protocol': { value: 'tls', when: s.cond.string.match('(?s)^TLSv.', 'tlsDetails.tlsVersion') },

  'user_agent.original': 'userAgent',

  // Related entities, for pivoting.
  'related.ip': { array: [source_ip] },
  'related.user': { array: [user_name] },
} + {
  ['aws.cloudtrail.' + aws_fields[field]]: field
  for field in std.objectFields(aws_fields)
} + {
  ['aws.cloudtrail.' + aws_text_fields[field]]: { path: field, convert: 'json_text' }
  for field in std.objectFields(aws_text_fields)
} + {
  // `\@meta` is the data's key "@meta", not the message's metadata.
  ['aws.cloudtrail.' + name]: if name == '@meta' then '\\@meta' else name
  for name in output_names
};

local eventbridge = s.cond.all([has('detail-type'), s.cond.type_of('detail', 'object')]);
local missing(field) = s.cond.none([has(field)]);

{
  transforms: [
    // One message per event; S3 files hold many. Every event is read, so parsed at once.
    s.parse.json(settings={ expand: true, parse_now: true }),
    // EventBridge wraps the record in `detail`; the envelope is the original text.
    s.object.copy('', '@meta.original', s.when(eventbridge)),
    s.object.copy('detail', '', s.when(eventbridge)),
    s.utility.err('not a CloudTrail record: eventTime, eventName or eventSource is missing', s.when(
      s.cond.any([missing('eventTime'), missing('eventName'), missing('eventSource')])
    )),
    s.utility.err('not a CloudTrail record: userIdentity is not an object', s.when(
      s.cond.all([has('userIdentity'), s.cond.none([s.cond.type_of('userIdentity', 'object')])])
    )),
    // The last step that reads fields: the document is written as text at once.
    s.object.template(ecs, settings={ rest: '', serialize: true }),
  ],

  tests: tests,
}
