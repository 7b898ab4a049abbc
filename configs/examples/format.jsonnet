// Decoding Kinesis records. A CloudWatch Logs subscription delivers each record as base64 of
// gzipped JSON; other producers send plain base64 JSON. Decode the base64, gunzip only what is
// gzip by its magic bytes (with a cap, so a decompression bomb is rejected instead of eating
// memory), then parse. Anything that does not decode goes to the error route with the reason.
local s = import 'sluice.libsonnet';

local cloudwatch = {
  messageType: 'DATA_MESSAGE',
  owner: '123456789012',
  logGroup: '/aws/lambda/login',
  logStream: '2026/11/23/[$LATEST]abc',
  subscriptionFilters: ['to-kinesis'],
  logEvents: [{ id: '38211', timestamp: 1795414861000, message: 'Failed login for admin from 81.2.69.160' }],
};

s.pipeline(
  [
    { type: 'format.from_base64' },
    {
      type: 'format.from_gzip',
      max_bytes: 16 * 1024 * 1024,
      when: { type: 'format.mime', value: 'gzip' },
    },
    { type: 'format.from_json' },
    // Keep the log events as one JSON string too, e.g. for a column that takes text.
    { type: 'format.to_json', source: 'logEvents', target: 'events_json', when: { type: 'exists', source: 'logEvents' } },
  ],
  tests=[
    s.test(
      'a CloudWatch Logs subscription record (base64 of gzip) is decoded',
      ['H4sIAAAAAAACAzWPwW7CMBBEfyVa9UhjrxNMwi1SA5f2lNxQVDnEIKuxHdmmqEL8exeq3lbzZkczN7A6RnXW/c+iYQtvTd98frRd1+xbWIG/Oh1IRlGUa7mpao6C5Nmf98FfFiJMXSOblR0nxUg27g93KWhliQsuJENkomCHl/emb7t+UOORXPEyxmMwSzLe7cycdIiwPUDyr1/G6WgiDM+o9lu79EA3MBMlFpVApP9kqHpSllrgpl6XWFYSOeer/0nk3Skz6yl7FstOPmRqso8reJtVmItc1jlKDvfh/gs2vF+CCgEAAA=='],
      [cloudwatch { events_json: std.manifestJsonMinified(cloudwatch.logEvents) }],
    ),
    s.test(
      'a plain base64 JSON record is decoded without gunzip',
      ['eyJ1c2VyIjoiYWxpY2UiLCJhY3Rpb24iOiJDb25zb2xlTG9naW4ifQ=='],
      [{ user: 'alice', action: 'ConsoleLogin' }],
    ),
    s.test('text that is not base64 goes to the error route', ['{"user": "alice"}'], [], errors=1),
    s.test(
      'a truncated gzip record goes to the error route',
      ['H4sIAAAAAAACAzWPwW7CMBBEfyVa9UhjrxNMwi1SA5f2lNxQVDnEIKuxHdmmqEL8exeq3lbzZkczN7A6RnXW/c+iYQtvTd98frRd1+xbWIG/Oh1IRlGUa7mpao6C5Nmf98FfFiJMXSOblR0nxUg27g93KWg='],
      [],
      errors=1,
    ),
  ],
)
