// VPC flow anomalies as a function: the top talkers and the sources of denied flows per window,
// after configs/ecs/vpc_flow.jsonnet has made ECS documents of the flow records. See
// vpc_anomalies.jsonnet (the defaults, with tests) and docs/detection.md.
//
//   local anomalies = import 'detect/vpc_anomalies.libsonnet';
//   anomalies.config(sns_topic_arn='arn:aws:sns:us-east-1:123456789012:network-reports')
local flows = import '../ecs/vpc_flow.jsonnet';

local eq(field, value) = { type: 'string.eq', source: field, value: value };

{
  // The `k` source/destination pairs that sent the most bytes in each window.
  top_talkers(k=10, window='5m', allowed_lateness='10m'):: {
    type: 'detect.top_k',
    rule: {
      id: 'sluice-vpc-top-talkers',
      name: 'vpc_top_talkers',
      description: 'The %d source/destination pairs that sent the most bytes in %s.' % [k, window],
    },
    key: ['source.ip', 'destination.ip'],
    by: 'source.bytes',
    k: k,
    window: window,
    // Flow logs arrive minutes after the flows, and out of order across interfaces.
    allowed_lateness: allowed_lateness,
    sample_size: 0,
  },

  // The sources of `min_count` or more rejected flows in a window, with the ports and
  // addresses they tried: scans and blocked exfiltration stand out.
  denied_flows(min_count=5, limit=20, window='5m', allowed_lateness='10m'):: {
    type: 'detect.summarize',
    when: eq('event.outcome', 'failure'),
    rule: {
      id: 'sluice-vpc-denied-flows',
      name: 'vpc_denied_flows',
      description: 'Sources of %d or more rejected flows in %s.' % [min_count, window],
    },
    key: 'source.ip',
    sum: ['source.packets', 'source.bytes'],
    distinct: ['destination.port', 'destination.ip'],
    min_count: min_count,
    limit: limit,
    window: window,
    allowed_lateness: allowed_lateness,
    sample_size: 0,
  },

  // Flow log lines in, the reports out (`event.kind: metric`).
  config(
    aws=null,
    sns_topic_arn=null,
    stdout=false,
    window='5m',
    allowed_lateness='10m',
    k=10,
    min_count=5,
    // For Lambda, where every invocation ends with a flush: keep windows open until they close.
    on_flush='emit_all',
  ):: flows {
    [if aws != null then 'aws']: aws,
    transforms: super.transforms + [
      $.top_talkers(k, window, allowed_lateness) + { on_flush: on_flush },
      $.denied_flows(min_count, 20, window, allowed_lateness) + { on_flush: on_flush },
      // The flows have been counted; only the reports go on.
      { type: 'utility.drop', when: { type: 'none', conditions: [{ type: 'exists', source: 'detection' }] } },
    ] + (
      if sns_topic_arn != null then [{
        type: 'send.sns',
        topic_arn: sns_topic_arn,
        subject: 'VPC flow report',
        pass: true,
      }] else []
    ) + (
      if stdout then [{ type: 'send.stdout', pass: true }] else []
    ),
    tests: [],
  },
}
