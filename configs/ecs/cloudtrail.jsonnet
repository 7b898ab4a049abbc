// CloudTrail to Elastic Common Schema (ECS 8.x).
//
// Input, as AWS delivers it: S3 log files (`{"Records": [...]}`, usually gzipped: `sluice run`
// unzips them), single events one per line (CloudWatch Logs), or EventBridge envelopes
// ("detail-type": "AWS API Call via CloudTrail"). Each event keeps its raw text in
// `event.original` with its SHA-256 in `event.hash`; anything that is not a CloudTrail record
// goes to the error route with the reason.
//
// `ecs.cloudtrail` does the mapping in one pass (see `sluice list ecs.cloudtrail`); the
// category tables below are the part to extend. configs/examples/cloudtrail_generic.jsonnet is
// the same mapping written with the general transforms, and passes the same tests.
//
//   sluice run -c configs/ecs/cloudtrail.jsonnet examples/data/cloudtrail/single-events.jsonl
local s = import 'sluice.libsonnet';
local tests = import 'cloudtrail_tests.libsonnet';

local verbs = {
  Create: ['creation'],
  Delete: ['deletion'],
} + {
  [verb]: ['change']
  for verb in ['Put', 'Update', 'Modify', 'Attach', 'Detach', 'Authorize', 'Revoke', 'Add', 'Remove', 'Set', 'Enable', 'Disable']
};

{
  stores: {
    // eventName -> {category, type} where the name's prefix is not enough.
    categories: { type: 'table', values: import 'cloudtrail_categories.libsonnet' },
    // The verb an event name starts with -> event.type, for names the table does not know.
    verbs: { type: 'table', values: verbs },
  },

  transforms: [
    // One message per event; S3 files hold many. Events stay unparsed until read.
    s.parse.json(settings={ expand: true }),
    // Categories by name from the table, else by the verb the name starts with.
    s.ecs.cloudtrail(settings={ categories: 'categories', verbs: 'verbs' }),
  ],

  tests: tests,
}
