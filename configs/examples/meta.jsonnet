// The meta family on CloudTrail: transforms that run other transforms.
//   - meta.err keeps an event whose optional `requestParameters` string is cut off, and notes why;
//   - meta.for_each walks `resources` to collect lower-cased ARNs for case-insensitive search;
//   - meta.pipeline reuses one named list (`user`) in two meta.switch cases;
//   - meta.kv_store_lock raises a console-login-without-MFA alert once per CloudTrail record,
//     even when the same log file is delivered twice (S3 event replays, Lambda retries).
//   sluice test configs/examples/meta.jsonnet
local s = import 'sluice.libsonnet';

// Plain objects throughout: `{type: ..., settings...}` is exactly what the constructors build.
local eq(field, value) = { type: 'string.eq', source: field, value: value };
local copy(from, to) = { type: 'object.copy', source: from, target: to };
local insert(to, value) = { type: 'object.insert', target: to, value: value };

s.pipeline(
  [
    // Some producers send `requestParameters` as a JSON string, and now and then it is cut off.
    // Parse it when possible; when it is not JSON, keep the event as it was and say why.
    {
      type: 'meta.err',
      when: { type: 'type_of', source: 'requestParameters', value: 'string' },
      error_messages: ['not valid JSON'],
      error_target: '@meta.tolerated',
      transforms: [{ type: 'parse.json', source: 'requestParameters' }],
    },
    copy('@meta.tolerated', 'error.message'),
    // Each resource's ARN, lower-cased, into `related.arns`; resources without one are skipped.
    {
      type: 'meta.for_each',
      source: 'resources',
      target: 'related.arns',
      transforms: [
        { type: 'utility.drop', when: { type: 'none', conditions: [{ type: 'exists', source: 'ARN' }] } },
        copy('ARN', ''),
        { type: 'string.to_lower' },
      ],
    },
    // Who did it: the shared fields come from one named pipeline, the name from each type's own place.
    {
      type: 'meta.switch',
      cases: [
        {
          when: eq('userIdentity.type', 'IAMUser'),
          transforms: [
            { type: 'meta.pipeline', pipeline: 'user' },
            copy('userIdentity.userName', 'user.name'),
          ],
        },
        {
          when: eq('userIdentity.type', 'AssumedRole'),
          transforms: [
            { type: 'meta.pipeline', pipeline: 'user' },
            copy('userIdentity.sessionContext.sessionIssuer.userName', 'user.name'),
          ],
        },
      ],
    },
    // The alert, once per eventID for a day; a second delivery of the same record is dropped
    // (and counted in the account). Had the inner transforms failed, the lock would be released.
    {
      type: 'meta.kv_store_lock',
      when: { type: 'all', conditions: [eq('eventName', 'ConsoleLogin'), eq('additionalEventData.MFAUsed', 'No')] },
      store: 'locks',
      key: 'eventID',
      ttl: '24h',
      transforms: [
        insert('event.kind', 'alert'),
        insert('rule.name', 'console-login-without-mfa'),
      ],
    },
  ],
  settings={
    stores: { locks: { type: 'memory' } },
    pipelines: {
      user: [
        copy('userIdentity.arn', 'user.id'),
        copy('userIdentity.accountId', 'cloud.account.id'),
      ],
    },
  },
  tests=[
    s.test(
      'ARNs of every resource are collected, lower-cased',
      [{
        eventName: 'AssumeRole',
        resources: [
          { ARN: 'arn:aws:iam::123456789012:role/OrgAdmin', type: 'AWS::IAM::Role' },
          { type: 'AWS::STS::AssumeRoleSession' },
          { ARN: 'arn:aws:s3:::Logs-Bucket', type: 'AWS::S3::Bucket' },
        ],
      }],
      [{
        eventName: 'AssumeRole',
        resources: [
          { ARN: 'arn:aws:iam::123456789012:role/OrgAdmin', type: 'AWS::IAM::Role' },
          { type: 'AWS::STS::AssumeRoleSession' },
          { ARN: 'arn:aws:s3:::Logs-Bucket', type: 'AWS::S3::Bucket' },
        ],
        related: { arns: ['arn:aws:iam::123456789012:role/orgadmin', 'arn:aws:s3:::logs-bucket'] },
      }],
    ),
    s.test(
      'a requestParameters string is parsed; a truncated one is kept and noted',
      [
        { eventName: 'PutObject', requestParameters: '{"bucketName":"logs","key":"a.gz"}' },
        { eventName: 'PutObject', requestParameters: '{"bucketName":"lo' },
      ],
      [
        { eventName: 'PutObject', requestParameters: { bucketName: 'logs', key: 'a.gz' } },
        {
          eventName: 'PutObject',
          requestParameters: '{"bucketName":"lo',
          'error': {
            message: 'transforms[0] (meta.err).transforms[0] (parse.json): data is not valid JSON: EOF while parsing a string at line 1 column 17',
          },
        },
      ],
    ),
    s.test(
      'one named pipeline serves both identity types',
      [
        { userIdentity: { type: 'IAMUser', arn: 'arn:aws:iam::123456789012:user/alice', accountId: '123456789012', userName: 'alice' } },
        { userIdentity: { type: 'AssumedRole', arn: 'arn:aws:sts::123456789012:assumed-role/Admin/bob', accountId: '123456789012', sessionContext: { sessionIssuer: { userName: 'Admin' } } } },
      ],
      [
        {
          userIdentity: { type: 'IAMUser', arn: 'arn:aws:iam::123456789012:user/alice', accountId: '123456789012', userName: 'alice' },
          user: { id: 'arn:aws:iam::123456789012:user/alice', name: 'alice' },
          cloud: { account: { id: '123456789012' } },
        },
        {
          userIdentity: { type: 'AssumedRole', arn: 'arn:aws:sts::123456789012:assumed-role/Admin/bob', accountId: '123456789012', sessionContext: { sessionIssuer: { userName: 'Admin' } } },
          user: { id: 'arn:aws:sts::123456789012:assumed-role/Admin/bob', name: 'Admin' },
          cloud: { account: { id: '123456789012' } },
        },
      ],
    ),
    s.test(
      'a console login without MFA alerts once, even when delivered twice',
      [
        { eventID: 'e1', eventName: 'ConsoleLogin', additionalEventData: { MFAUsed: 'No' } },
        { eventID: 'e1', eventName: 'ConsoleLogin', additionalEventData: { MFAUsed: 'No' } },
        { eventID: 'e2', eventName: 'ConsoleLogin', additionalEventData: { MFAUsed: 'Yes' } },
      ],
      [
        { eventID: 'e1', eventName: 'ConsoleLogin', additionalEventData: { MFAUsed: 'No' }, event: { kind: 'alert' }, rule: { name: 'console-login-without-mfa' } },
        { eventID: 'e2', eventName: 'ConsoleLogin', additionalEventData: { MFAUsed: 'Yes' } },
      ],
    ),
  ],
)
