// test.message gives a config test an event without an input file: it emits its value when a
// control message arrives (the end of input in `sluice test`). Here it stands in for a
// CloudTrail console login, to check the steps that tag failed logins.
//   sluice test configs/examples/test.jsonnet
local s = import 'sluice.libsonnet';

local login = {
  eventName: 'ConsoleLogin',
  sourceIPAddress: '89.160.20.156',
  responseElements: { ConsoleLogin: 'Failure' },
};

s.pipeline(
  [
    { type: 'test.message', value: login },
    {
      type: 'object.insert',
      target: 'event.outcome',
      value: 'failure',
      when: { type: 'string.eq', source: 'responseElements.ConsoleLogin', value: 'Failure' },
    },
  ],
  tests=[
    s.test('the generated login is tagged as a failure', [], [login { event: { outcome: 'failure' } }]),
    s.test(
      'real input passes first, then the generated event',
      [{ eventName: 'GetObject' }],
      [{ eventName: 'GetObject' }, login { event: { outcome: 'failure' } }],
    ),
  ],
)
