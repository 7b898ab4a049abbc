// SSH brute force: five or more failed logins from one source address within five minutes.
//
// Input: sshd syslog lines, in any of the shapes configs/ecs/sshd.jsonnet reads (it turns them
// into ECS events first). Output: one ECS alert (`event.kind: alert`, `rule.*`, `source.ip`,
// the window as `event.start`/`event.end`, `detection.count`/`threshold`, and the event.hash of
// the failures that made it) per attacking address and five-minute window. Windows are by
// event time, so replaying old logs gives the alerts the live run gave.
//
//   sluice run -c configs/detect/ssh_bruteforce.jsonnet examples/data/sshd/auth.log
//
// Here the counts live in the process, which is right for one `sluice run`. To deploy on
// Lambda with the counts in DynamoDB (so concurrent invocations count together and alert once),
// the alerts to SNS and an optional NACL deny, build the config from ssh_bruteforce.libsonnet:
// see docs/detection.md and ssh_bruteforce_lambda.jsonnet.
local s = import 'sluice.libsonnet';
local bruteforce = import 'ssh_bruteforce.libsonnet';

// An sshd line as rsyslog writes it (with the year, so the tests need no pinned clock).
local line(min, sec, message, host='bastion-3', pid=1250) =
  '2026-11-23T06:%02d:%02d.215586+00:00 %s sshd[%d]: %s' % [min, sec, host, pid, message];
local failed(min, sec, ip, user='root') =
  line(min, sec, 'Failed password for %s from %s port 33012 ssh2' % [user, ip]);
local stamp(min, sec) = '2026-11-23T06:%02d:%02d.215586Z' % [min, sec];

local alert(ip, at, start, end, lines) = {
  '@timestamp': at,
  event: {
    kind: 'alert',
    start: start,
    end: end,
    category: ['intrusion_detection'],
    type: ['info'],
    severity: 47,
  },
  rule: {
    id: 'sluice-ssh-bruteforce',
    name: 'ssh_bruteforce',
    description: '5 or more failed SSH logins from one source address within 5m.',
  },
  source: { ip: ip },
  related: { ip: [ip] },
  detection: {
    type: 'threshold',
    count: 5,
    threshold: 5,
    window: '5m',
    // The failures that made the count, by the SHA-256 of their raw lines.
    sample: [std.sha256(l) for l in lines],
  },
  threat: {
    framework: 'MITRE ATT&CK',
    tactic: { id: ['TA0006'], name: ['Credential Access'] },
    technique: { id: ['T1110'], name: ['Brute Force'] },
  },
};

local attacker = '216.160.83.57';
local burst = [failed(41, 30 + 5 * i, attacker) for i in std.range(0, 6)];

local tests = [
  s.test('five failed logins from one address in five minutes raise one alert', burst, [
    alert(attacker, stamp(41, 50), '2026-11-23T06:40:00Z', '2026-11-23T06:45:00Z', burst[0:5]),
  ]),

  s.test('four failures raise nothing, nor do five split across two windows', [
    failed(41, 0, attacker),
    failed(41, 10, attacker),
    failed(41, 20, attacker),
    failed(41, 30, attacker),
    failed(44, 40, '89.160.20.156'),
    failed(44, 50, '89.160.20.156'),
    failed(44, 59, '89.160.20.156'),
    failed(45, 0, '89.160.20.156'),
    failed(45, 10, '89.160.20.156'),
  ], []),

  s.test('successful logins, other programs and other messages do not count', [
    failed(41, 0, attacker),
    failed(41, 1, attacker),
    failed(41, 2, attacker),
    failed(41, 3, attacker),
    line(41, 4, 'Accepted password for root from %s port 33020 ssh2' % attacker),
    line(41, 5, 'Invalid user admin from %s port 33021' % attacker),
    line(41, 6, 'Connection closed by authenticating user root %s port 33022 [preauth]' % attacker),
    '2026-11-23T06:41:07.000000+00:00 bastion-3 CRON[1262]: pam_unix(cron:session): session opened for user deploy(uid=1003) by (uid=0)',
  ], []),

  local a = [failed(42, 2 * i, attacker, 'root') for i in std.range(0, 5)];
  local b = [failed(42, 2 * i + 1, '2001:db8::7', 'admin') for i in std.range(0, 5)];
  s.test('two attackers interleaved (one over IPv6) are each alerted once', std.flattenArrays([[a[i], b[i]] for i in std.range(0, 5)]), [
    alert(attacker, stamp(42, 8), '2026-11-23T06:40:00Z', '2026-11-23T06:45:00Z', a[0:5]),
    alert('2001:db8::7', stamp(42, 9), '2026-11-23T06:40:00Z', '2026-11-23T06:45:00Z', b[0:5]),
  ]),

  local cut = line(41, 52, 'Failed password for ro');
  s.test('a malformed line goes to the error route and the count goes on', burst[0:4] + [cut] + burst[4:5], [
    alert(attacker, stamp(41, 50), '2026-11-23T06:40:00Z', '2026-11-23T06:45:00Z', burst[0:5]),
  ], errors=1),

  // Out of order within the allowed minute: the same alert.
  local late = [burst[1], burst[0], burst[3], burst[4], burst[2]];
  s.test('events out of order within the allowed lateness give the same alert', late, [
    alert(attacker, stamp(41, 40), '2026-11-23T06:40:00Z', '2026-11-23T06:45:00Z', late),
  ]),
];

bruteforce.config() + { tests: tests }
