// ssh_bruteforce for the Kinesis Lambda handler: the counts in DynamoDB (so every concurrent
// invocation and shard counts together, and each attacker is alerted once), the alerts to SNS
// and to the function's log, and the attacking address denied at a network ACL for a day.
// Replace the table, topic and ACL with yours; see docs/detection.md for the table, the IAM
// permissions and the deployment, and docs/deploy.md for the handler itself.
//
// `dry_run: true` logs what the NACL step would do; remove it once the alerts look right.
local bruteforce = import 'ssh_bruteforce.libsonnet';

bruteforce.config(
  store={ type: 'dynamodb', table: 'sluice-detect' },
  sns_topic_arn='arn:aws:sns:us-east-1:123456789012:security-alerts',
  nacl={
    network_acl_id: 'acl-0123456789abcdef0',
    rule_numbers: { from: 100, to: 119 },
    expire_after: '24h',
    // Never deny your own networks.
    exclude: ['10.0.0.0/8'],
    dry_run: true,
  },
  stdout=true,
)
