// Hashes for matching and dedupe. SHA-1 of a command line matches indicator feeds keyed by
// SHA-1; xxHash (XXH3, 64-bit, not cryptographic) gives a fast, stable key of the raw line,
// for dropping exact duplicates or sampling by content.
local s = import 'sluice.libsonnet';

s.pipeline(
  [
    { type: 'hash.xxhash', target: '@meta.dedupe_key' },
    { type: 'parse.json' },
    { type: 'object.copy', source: '@meta.dedupe_key', target: 'event.id' },
    { type: 'hash.sha1', source: 'process.command_line', target: 'process.command_line_sha1' },
  ],
  tests=[
    s.test(
      'a process event gets a dedupe key and the SHA-1 of its command line',
      ['{"process":{"command_line":"powershell.exe -nop -w hidden -enc SQBFAFgA"}}'],
      [{
        event: { id: 'b2ba0fe3f56ead13' },
        process: {
          command_line: 'powershell.exe -nop -w hidden -enc SQBFAFgA',
          command_line_sha1: '9c935e81595e0563d182cbeb15fb70d8e86af295',
        },
      }],
    ),
    s.test(
      'an event without a command line keeps only its key',
      ['{"process":{}}'],
      [{ event: { id: '08a80bf3c7b139b1' }, process: {} }],
    ),
  ],
)
