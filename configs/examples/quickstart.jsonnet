// A first pipeline: keep the raw event, parse it, name a few ECS fields, hash the original,
// and drop read-only noise. Run it with:
//   cargo run --release -p sluice -- run -c configs/examples/quickstart.jsonnet examples/data/quickstart.jsonl
local s = import 'sluice.libsonnet';

s.pipeline(
  [
    s.object.copy('', '@meta.original'),
    s.parse.json(),
    s.utility.drop(settings=s.when(s.cond.string.eq('readOnly', 'true'))),
    s.object.rename({
      eventName: 'event.action',
      eventSource: 'event.provider',
      eventTime: '@timestamp',
      sourceIPAddress: 'source.address',
      'userIdentity.userName': 'user.name',
    }),
    s.object.copy('@meta.original', 'event.original'),
    s.hash.sha256('event.original', 'event.hash'),
    s.string.to_lower('event.action', 'event.action_lower'),
  ],
  tests=[
    s.test(
      'a console login is renamed and hashed',
      ['{"eventName":"ConsoleLogin","eventTime":"2026-11-23T06:25:01Z","userIdentity":{"userName":"alice"}}'],
      [{
        '@timestamp': '2026-11-23T06:25:01Z',
        event: {
          action: 'ConsoleLogin',
          action_lower: 'consolelogin',
          original: '{"eventName":"ConsoleLogin","eventTime":"2026-11-23T06:25:01Z","userIdentity":{"userName":"alice"}}',
          hash: '9f495116fcee4a5264510ad56df79b156cf7615ca48a1b1fd87815c609c8c40a',
        },
        user: { name: 'alice' },
        userIdentity: {},
      }],
    ),
    s.test('read-only calls are dropped', [{ eventName: 'DescribeInstances', readOnly: true }], []),
    s.test('a line that is not JSON goes to the error route', ['not json'], [], errors=1),
  ],
)
