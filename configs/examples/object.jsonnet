// CloudTrail to ECS with the object family: flatten requestParameters (their keys vary by API
// call, so ECS keeps them as a flattened field), take the user's name from the ARN with jq,
// collect resource ARNs with JSONPath, type the fields that CloudTrail writes loosely, and
// merge constant ECS fields in.
//   sluice test configs/examples/object.jsonnet
local s = import 'sluice.libsonnet';

s.pipeline(
  [
    s.parse.json(),
    { type: 'object.flatten', source: 'requestParameters', target: 'aws.cloudtrail.flattened.request_parameters' },
    { type: 'object.jq', filter: '.userIdentity.arn | split("/") | last', target: 'user.name' },
    { type: 'object.jsonpath', query: '$.resources[*].ARN', target: 'aws.cloudtrail.resources.arn' },
    { type: 'object.to_boolean', source: 'readOnly', target: 'aws.cloudtrail.read_only' },
    { type: 'object.to_integer', source: 'additionalEventData.bytesTransferredOut', target: 'destination.bytes' },
    { type: 'object.to_string', source: 'recipientAccountId', target: 'cloud.account.id' },
    { type: 'object.merge', value: { ecs: { version: '8.11.0' }, event: { kind: 'event', category: ['web'] } } },
    { type: 'object.delete', sources: ['requestParameters', 'resources', 'readOnly', 'additionalEventData', 'recipientAccountId', 'userIdentity'] },
  ],
  tests=[
    s.test(
      'an S3 GetObject event',
      [{
        eventName: 'GetObject',
        userIdentity: { arn: 'arn:aws:iam::123456789012:user/alice' },
        requestParameters: { bucketName: 'logs', Host: 'logs.s3.amazonaws.com', key: 'a/b.gz', 'x-amz.acl': 'private', filter: { prefix: 'a/' } },
        resources: [{ ARN: 'arn:aws:s3:::logs/a/b.gz' }, { ARN: 'arn:aws:s3:::logs' }],
        readOnly: 'true',
        additionalEventData: { bytesTransferredOut: 2048.0 },
        recipientAccountId: 123456789012,
      }],
      [{
        eventName: 'GetObject',
        aws: { cloudtrail: {
          flattened: { request_parameters: {
            bucketName: 'logs',
            Host: 'logs.s3.amazonaws.com',
            key: 'a/b.gz',
            'x-amz\\.acl': 'private',
            'filter.prefix': 'a/',
          } },
          resources: { arn: ['arn:aws:s3:::logs/a/b.gz', 'arn:aws:s3:::logs'] },
          read_only: true,
        } },
        user: { name: 'alice' },
        destination: { bytes: 2048 },
        cloud: { account: { id: '123456789012' } },
        ecs: { version: '8.11.0' },
        event: { kind: 'event', category: ['web'] },
      }],
    ),
    s.test(
      'a readOnly that is not a boolean goes to the error route',
      [{ eventName: 'GetObject', userIdentity: { arn: 'arn:aws:iam::123456789012:user/bob' }, readOnly: 'maybe' }],
      [],
      errors=1,
    ),
  ],
)
