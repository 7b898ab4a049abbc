// String edits on CloudTrail fields for ECS: event.action in snake_case, a user agent cut to a
// size an index keeps, quotes and spaces trimmed from a loosely written field, an IAM ARN built
// from the account and user name, and a fresh UUID as an idempotency key in the metadata (for a
// sink that deduplicates; metadata is not written out, so the tests stay deterministic).
//   sluice test configs/examples/string.jsonnet
local s = import 'sluice.libsonnet';

s.pipeline(
  [
    s.parse.json(),
    { type: 'string.to_snake', source: 'eventName', target: 'event.action' },
    { type: 'string.truncate', source: 'userAgent', target: 'user_agent.original', length: 24, suffix: '...' },
    { type: 'string.trim', source: 'sessionName', characters: '"\' ' },
    { type: 'string.prepend', source: 'recipientAccountId', target: 'user.id', value: 'arn:aws:iam::' },
    { type: 'string.append', source: 'user.id', value: ':user/' },
    { type: 'string.append', source: 'user.id', value_from: 'userName' },
    { type: 'string.uuid', target: '@meta.idempotency_key' },
    { type: 'object.delete', sources: ['userAgent', 'eventName'] },
  ],
  tests=[
    s.test(
      'a console login',
      [{
        eventName: 'ConsoleLogin',
        userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15',
        sessionName: ' "alice-session" ',
        recipientAccountId: '123456789012',
        userName: 'alice',
      }],
      [{
        event: { action: 'console_login' },
        user_agent: { original: 'Mozilla/5.0 (Macintos...' },
        sessionName: 'alice-session',
        recipientAccountId: '123456789012',
        userName: 'alice',
        user: { id: 'arn:aws:iam::123456789012:user/alice' },
      }],
    ),
    s.test(
      'short and missing fields pass unchanged',
      [{ eventName: 'GetObject', userAgent: 'aws-cli/2.15' }],
      [{ event: { action: 'get_object' }, user_agent: { original: 'aws-cli/2.15' } }],
    ),
    s.test(
      'an account ID that is not a string goes to the error route',
      [{ eventName: 'GetObject', recipientAccountId: 123456789012 }],
      [],
      errors=1,
    ),
  ],
)
