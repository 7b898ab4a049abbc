// VPC flow logs to Elastic Common Schema (ECS 8.x), with ids turned into names.
//
// Input: flow log records of any version (2 to 8), one per line, as S3 delivers them (each file
// starts with a header line naming its fields, which sets the order for that file) or as
// CloudWatch Logs delivers them (no header: the v2 default format). `-` means absent; NODATA
// and SKIPDATA records are kept and tagged. Malformed records go to the error route with the
// reason.
//
// The ids in flow logs (VPC, subnet, ENI, instance, account) mean little at 2 a.m.; the `names`
// store maps them to names written next to the ids. An id missing from the map keeps its id
// and gets no name. The store is a CSV file here (any local store works: table, file, memory);
// for a DynamoDB table, look the names up with `enrich.kv_get` steps after the parse.
//
//   sluice run -c configs/ecs/vpc_flow.jsonnet examples/data/vpcflow/default-v2.log
local s = import 'sluice.libsonnet';
local tests = import 'vpc_flow_tests.libsonnet';

// Looks an id up in the names store and writes the name next to it.
{
  stores: {
    names: { type: 'file', path: 'examples/data/vpcflow/names.csv', key: 'id', value: 'name' },
  },

  transforms: [
    // One pass per line: fields to their ECS places, what ECS derives, names for the ids from
    // the table, and the line itself with its hash.
    s.parse.vpc_flow(settings={
      mapping: {
        'account-id': 'cloud.account.id',
        srcaddr: 'source.address',
        dstaddr: 'destination.address',
        srcport: 'source.port',
        dstport: 'destination.port',
        packets: 'source.packets',
        bytes: 'source.bytes',
        'instance-id': 'cloud.instance.id',
        region: 'cloud.region',
        'az-id': 'cloud.availability_zone',
        'flow-direction': 'network.direction',
        'reject-reason': 'event.reason',
      },
      names: {
        store: 'names',
        fields: {
          'cloud.account.id': 'cloud.account.name',
          'aws.vpcflow.vpc_id': 'aws.vpcflow.vpc_name',
          'aws.vpcflow.subnet_id': 'aws.vpcflow.subnet_name',
          'aws.vpcflow.interface_id': 'aws.vpcflow.interface_description',
          'cloud.instance.id': 'cloud.instance.name',
        },
      },
      original: true,
    }),
  ],

  tests: tests,
}
