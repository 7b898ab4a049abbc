// The SSH brute-force rule, as a function to deploy with your own state store, SNS topic and
// network ACL. ssh_bruteforce.jsonnet is this with the defaults (and its tests); see
// docs/detection.md for the Lambda deployment.
//
//   local bruteforce = import 'detect/ssh_bruteforce.libsonnet';
//   bruteforce.config(
//     store={ type: 'dynamodb', table: 'sluice-detect' },
//     sns_topic_arn='arn:aws:sns:us-east-1:123456789012:security-alerts',
//     nacl={ network_acl_id: 'acl-0123456789abcdef0', rule_numbers: { from: 100, to: 119 } },
//   )
//
// What it does: sshd syslog lines become ECS events (configs/ecs/sshd.jsonnet); failed logins
// (`event.action: ssh_login`, `event.outcome: failure`) are counted per `source.ip` in
// tumbling windows of event time; the fifth failure from one address within a window raises
// one alert. Only the alerts come out: to SNS when a topic is given, to stdout with
// `stdout=true` (Lambda's log), to a NACL deny entry when `nacl` is given (in that order), and
// as the pipeline's output.
local sshd = import '../ecs/sshd.jsonnet';

local eq(field, value) = { type: 'string.eq', source: field, value: value };

// Each "Failed <method> for <user> from <ip>" line is one failed attempt. Probes of servers
// that only take keys log "Invalid user" without a "Failed" line: add
// eq('event.action', 'ssh_invalid_user') under an `any` to count those too.
local failed_login = { type: 'all', conditions: [
  eq('event.action', 'ssh_login'),
  eq('event.outcome', 'failure'),
] };

local is_alert = eq('event.kind', 'alert');

{
  failed_login: failed_login,
  is_alert: is_alert,

  // The detection step alone, to put after any pipeline that makes ECS sshd events.
  detector(threshold=5, window='5m', allowed_lateness='1m', cooldown=null, store=null):: {
    type: 'detect.threshold',
    when: failed_login,
    rule: {
      id: 'sluice-ssh-bruteforce',
      name: 'ssh_bruteforce',
      description: '%d or more failed SSH logins from one source address within %s.' % [threshold, window],
    },
    key: 'source.ip',
    threshold: threshold,
    window: window,
    allowed_lateness: allowed_lateness,
    [if cooldown != null then 'cooldown']: cooldown,
    [if store != null then 'store']: 'detect_state',
    // sshd events carry no event.id; their event.hash (SHA-256 of the raw line) names them.
    sample_field: 'event.hash',
    sample_size: 10,
    fields: {
      event: { category: ['intrusion_detection'], type: ['info'], severity: 47 },
      threat: {
        framework: 'MITRE ATT&CK',
        tactic: { id: ['TA0006'], name: ['Credential Access'] },
        technique: { id: ['T1110'], name: ['Brute Force'] },
      },
    },
  },

  // The whole pipeline: sshd lines in, alerts out.
  config(
    store=null,
    aws=null,
    sns_topic_arn=null,
    nacl=null,
    stdout=false,
    threshold=5,
    window='5m',
    allowed_lateness='1m',
    cooldown=null,
  ):: {
    // The store gets the shared `aws` settings too (its own win).
    [if store != null then 'stores']: { detect_state: (if aws != null then { aws: aws } else {}) + store },
    [if aws != null then 'aws']: aws,
    transforms: sshd.transforms + [
      // Lines of other programs come out of the sshd pipeline as they came in: not events.
      { type: 'utility.drop', when: { type: 'none', conditions: [{ type: 'format.json' }] } },
      $.detector(threshold, window, allowed_lateness, cooldown, store),
      // The events have been counted; only the alerts go on.
      { type: 'utility.drop', when: { type: 'none', conditions: [is_alert] } },
    ] + (
      // The alert goes out first: a response that fails (permissions, a full range) sends the
      // alert to the error route, and must not keep it from being seen.
      if sns_topic_arn != null then [{
        type: 'send.sns',
        topic_arn: sns_topic_arn,
        subject: 'SSH brute force',
        pass: true,
      }] else []
    ) + (
      if stdout then [{ type: 'send.stdout', pass: true }] else []
    ) + (
      if nacl != null then [{
        type: 'respond.nacl_deny',
        source: 'source.ip',
        rule_numbers: { from: 100, to: 119 },
        expire_after: '24h',
      } + nacl] else []
    ),
    errors: sshd.errors,
  },
}
