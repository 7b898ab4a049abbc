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
// and gets no name. The store here is a CSV file; the same pipeline can point it at DynamoDB.
//
//   sluice run -c configs/ecs/vpc_flow.jsonnet examples/data/vpcflow/default-v2.log
local s = import 'sluice.libsonnet';
local tests = import 'vpc_flow_tests.libsonnet';

// Looks an id up in the names store and writes the name next to it.
local name(id, target) = s.enrich.kv_get(id, target, 'names');

{
  stores: {
    names: { type: 'file', path: 'examples/data/vpcflow/names.csv', key: 'id', value: 'name' },
  },

  transforms: [
    s.object.copy('', '@meta.original'),
    s.parse.vpc_flow(settings={
      // Where each field goes in ECS; the others land under aws.vpcflow.*.
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
    }),
    name('cloud.account.id', 'cloud.account.name'),
    name('aws.vpcflow.vpc_id', 'aws.vpcflow.vpc_name'),
    name('aws.vpcflow.subnet_id', 'aws.vpcflow.subnet_name'),
    name('aws.vpcflow.interface_id', 'aws.vpcflow.interface_description'),
    name('cloud.instance.id', 'cloud.instance.name'),
    s.object.copy('@meta.original', 'event.original'),
    s.hash.sha256('event.original', 'event.hash'),
  ],

  tests: tests,
}
