// Tests for sshd.jsonnet: lines from examples/data/sshd/auth.log and malformed.log (plus a few
// older and newer OpenSSH formats), and the ECS documents they must become.
//
// RFC 3164 lines (`Nov 23 06:25:03 ...`) carry no year, so the pipeline infers it from the
// current time. Here that time is pinned to 2026-11-23T07:00:00Z, the day the sample data tells
// of, so the tests give the same answer in any year. Nothing else differs from sshd.jsonnet.
//
//   sluice test configs/ecs/sshd_test.jsonnet
local s = import 'sluice.libsonnet';
local sshd = import 'sshd.jsonnet';

// What every sshd line becomes: its header fields, and event.original with its SHA-256
// (computed here by Jsonnet's std.sha256, independently of the pipeline).
local doc(line, timestamp, host, pid, message, name='sshd') = {
  '@timestamp': timestamp,
  host: { hostname: host },
  process: { name: name, pid: pid },
  message: message,
  event: { kind: 'event', original: line, hash: std.sha256(line) },
  ecs: { version: '8.11.0' },
};

// The header of bastion-2's RFC 5424 lines: `<38>` is auth.info, `<86>` authpriv.info.
local rfc5424(priority, facility, code) = {
  log: { syslog: {
    priority: priority,
    version: 1,
    facility: { code: code, name: facility },
    severity: { code: 6, name: 'informational' },
  } },
};

// An authentication event's fields; related.* repeat the user and address as arrays.
local auth(action, outcome, category, type, user=null, ip=null, port=null) = {
  event+: { action: action, outcome: outcome, category: category, type: type },
  [if user != null then 'user']: { name: user },
  [if ip != null then 'source']: { ip: ip, [if port != null then 'port']: port },
  [if ip != null || user != null then 'related']: {
    [if ip != null then 'ip']: [ip],
    [if user != null then 'user']: [user],
  },
};

local ssh(event, method=null, signature=null) = {
  system: { auth: { ssh: {
    event: event,
    [if method != null then 'method']: method,
    [if signature != null then 'signature']: signature,
  } } },
};

local login = ['authentication', 'session'];
local attempt = ['authentication'];

local tests = [
  // --- RFC 3164 (bastion-1) -----------------------------------------------------------------
  local line = 'Nov 23 06:21:44 bastion-1 sshd[2304]: Accepted publickey for alice from 81.2.69.160 port 51514 ssh2: ED25519 SHA256:YDIhgVKiVgVbRtmonh6P8AW7W/8mYRBe57/72nzzu/w';
  s.test('RFC 3164: accepted publickey, with the key kept as the signature', [line], [
    doc(line, '2026-11-23T06:21:44Z', 'bastion-1', 2304, 'Accepted publickey for alice from 81.2.69.160 port 51514 ssh2: ED25519 SHA256:YDIhgVKiVgVbRtmonh6P8AW7W/8mYRBe57/72nzzu/w')
    + auth('ssh_login', 'success', login, ['info'], 'alice', '81.2.69.160', 51514)
    + ssh('Accepted', 'publickey', 'ED25519 SHA256:YDIhgVKiVgVbRtmonh6P8AW7W/8mYRBe57/72nzzu/w'),
  ]),

  local line = 'Nov 23 06:25:03 bastion-1 sshd[2411]: Failed password for root from 89.160.20.156 port 41240 ssh2';
  s.test('RFC 3164: failed password for root (the year is inferred)', [line], [
    doc(line, '2026-11-23T06:25:03Z', 'bastion-1', 2411, 'Failed password for root from 89.160.20.156 port 41240 ssh2')
    + auth('ssh_login', 'failure', attempt, ['info'], 'root', '89.160.20.156', 41240)
    + ssh('Failed', 'password'),
  ]),

  local line = 'Nov 23 06:26:06 bastion-1 sshd[2430]: Failed password for invalid user admin from 89.160.20.156 port 41262 ssh2';
  s.test('RFC 3164: failed password for an invalid user; "invalid user" is not part of the name', [line], [
    doc(line, '2026-11-23T06:26:06Z', 'bastion-1', 2430, 'Failed password for invalid user admin from 89.160.20.156 port 41262 ssh2')
    + auth('ssh_login', 'failure', attempt, ['info'], 'admin', '89.160.20.156', 41262)
    + ssh('Failed', 'password'),
  ]),

  local line = 'Nov 23 06:26:02 bastion-1 sshd[2430]: Invalid user admin from 89.160.20.156 port 41262';
  s.test('RFC 3164: invalid user', [line], [
    doc(line, '2026-11-23T06:26:02Z', 'bastion-1', 2430, 'Invalid user admin from 89.160.20.156 port 41262')
    + auth('ssh_invalid_user', 'failure', attempt, ['info'], 'admin', '89.160.20.156', 41262)
    + ssh('Invalid'),
  ]),

  local line = 'Nov 23 06:26:13 bastion-1 sshd[2430]: Connection closed by invalid user admin 89.160.20.156 port 41262 [preauth]';
  s.test('RFC 3164: connection closed by an invalid user before logging in is a failure', [line], [
    doc(line, '2026-11-23T06:26:13Z', 'bastion-1', 2430, 'Connection closed by invalid user admin 89.160.20.156 port 41262 [preauth]')
    + auth('ssh_connection_closed', 'failure', login, ['end'], 'admin', '89.160.20.156', 41262),
  ]),

  local line = 'Nov 23 06:25:31 bastion-1 sshd[2411]: error: maximum authentication attempts exceeded for root from 89.160.20.156 port 41240 ssh2 [preauth]';
  s.test('RFC 3164: maximum authentication attempts exceeded', [line], [
    doc(line, '2026-11-23T06:25:31Z', 'bastion-1', 2411, 'error: maximum authentication attempts exceeded for root from 89.160.20.156 port 41240 ssh2 [preauth]')
    + auth('ssh_max_auth_attempts', 'failure', attempt, ['info'], 'root', '89.160.20.156', 41240),
  ]),

  local line = 'Nov 23 06:25:31 bastion-1 sshd[2411]: Disconnecting authenticating user root 89.160.20.156 port 41240: Too many authentication failures [preauth]';
  s.test('RFC 3164: disconnecting after too many failures keeps the reason', [line], [
    doc(line, '2026-11-23T06:25:31Z', 'bastion-1', 2411, 'Disconnecting authenticating user root 89.160.20.156 port 41240: Too many authentication failures [preauth]')
    + auth('ssh_disconnect', 'failure', login, ['end'], 'root', '89.160.20.156', 41240)
    + { event+: { reason: 'Too many authentication failures' } },
  ]),

  local line = 'Nov 23 06:26:41 bastion-1 sshd[2441]: Received disconnect from 89.160.20.156 port 41288:11: Bye Bye [preauth]';
  s.test('RFC 3164: received disconnect before logging in', [line], [
    doc(line, '2026-11-23T06:26:41Z', 'bastion-1', 2441, 'Received disconnect from 89.160.20.156 port 41288:11: Bye Bye [preauth]')
    + auth('ssh_disconnect', 'failure', login, ['end'], null, '89.160.20.156', 41288)
    + { event+: { reason: 'Bye Bye' } },
  ]),

  local line = 'Nov 23 06:25:01 bastion-1 sshd[2411]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=89.160.20.156  user=root';
  s.test('RFC 3164: pam_unix authentication failure gives rhost and user', [line], [
    doc(line, '2026-11-23T06:25:01Z', 'bastion-1', 2411, 'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=89.160.20.156  user=root')
    + auth('ssh_pam_auth_failure', 'failure', attempt, ['info'], 'root', '89.160.20.156'),
  ]),

  local line = 'Nov 23 06:58:03 bastion-1 sshd[2304]: Disconnected from user alice 81.2.69.160 port 51514';
  s.test('RFC 3164: the end of a session that logged in is a success', [line], [
    doc(line, '2026-11-23T06:58:03Z', 'bastion-1', 2304, 'Disconnected from user alice 81.2.69.160 port 51514')
    + auth('ssh_disconnect', 'success', login, ['end'], 'alice', '81.2.69.160', 51514),
  ]),

  // --- RFC 5424 (bastion-2) -----------------------------------------------------------------
  local line = '<86>1 2026-11-23T06:30:12.504118+00:00 bastion-2 sshd 3120 - - pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=175.16.199.1  user=root';
  s.test('RFC 5424: pam_unix failure, priority 86 (authpriv.info)', [line], [
    doc(line, '2026-11-23T06:30:12.504118Z', 'bastion-2', 3120, 'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=175.16.199.1  user=root')
    + rfc5424(86, 'authpriv', 10)
    + auth('ssh_pam_auth_failure', 'failure', attempt, ['info'], 'root', '175.16.199.1'),
  ]),

  local line = '<38>1 2026-11-23T06:30:14.118022+00:00 bastion-2 sshd 3120 - - Failed password for root from 175.16.199.1 port 58812 ssh2';
  s.test('RFC 5424: failed password, microseconds kept', [line], [
    doc(line, '2026-11-23T06:30:14.118022Z', 'bastion-2', 3120, 'Failed password for root from 175.16.199.1 port 58812 ssh2')
    + rfc5424(38, 'auth', 4)
    + auth('ssh_login', 'failure', attempt, ['info'], 'root', '175.16.199.1', 58812)
    + ssh('Failed', 'password'),
  ]),

  local line = '<38>1 2026-11-23T06:30:16.902733+00:00 bastion-2 sshd 3120 - - Connection closed by authenticating user root 175.16.199.1 port 58812 [preauth]';
  s.test('RFC 5424: connection closed by an authenticating user', [line], [
    doc(line, '2026-11-23T06:30:16.902733Z', 'bastion-2', 3120, 'Connection closed by authenticating user root 175.16.199.1 port 58812 [preauth]')
    + rfc5424(38, 'auth', 4)
    + auth('ssh_connection_closed', 'failure', login, ['end'], 'root', '175.16.199.1', 58812),
  ]),

  local line = '<38>1 2026-11-23T06:32:20.611402+00:00 bastion-2 sshd 3140 - - Accepted password for alice from 10.0.1.10 port 40022 ssh2';
  s.test('RFC 5424: accepted password', [line], [
    doc(line, '2026-11-23T06:32:20.611402Z', 'bastion-2', 3140, 'Accepted password for alice from 10.0.1.10 port 40022 ssh2')
    + rfc5424(38, 'auth', 4)
    + auth('ssh_login', 'success', login, ['info'], 'alice', '10.0.1.10', 40022)
    + ssh('Accepted', 'password'),
  ]),

  // --- ISO timestamps, as rsyslog and journald write them (bastion-3) ------------------------
  local line = '2026-11-23T06:40:11.482913+00:00 bastion-3 sshd[1236]: Accepted publickey for bob from 2001:480:10::25 port 50122 ssh2: RSA SHA256:u5Z6M2pZ5qnYhaeyAK5g/YDi3nfsdpdYeZhCUzCObSg';
  s.test('ISO form: accepted publickey from an IPv6 client', [line], [
    doc(line, '2026-11-23T06:40:11.482913Z', 'bastion-3', 1236, 'Accepted publickey for bob from 2001:480:10::25 port 50122 ssh2: RSA SHA256:u5Z6M2pZ5qnYhaeyAK5g/YDi3nfsdpdYeZhCUzCObSg')
    + auth('ssh_login', 'success', login, ['info'], 'bob', '2001:480:10::25', 50122)
    + ssh('Accepted', 'publickey', 'RSA SHA256:u5Z6M2pZ5qnYhaeyAK5g/YDi3nfsdpdYeZhCUzCObSg'),
  ]),

  local line = '2026-11-23T06:41:33.870204+00:00 bastion-3 sshd[1250]: Disconnected from authenticating user root 216.160.83.57 port 33012 [preauth]';
  s.test('ISO form: disconnected from an authenticating user', [line], [
    doc(line, '2026-11-23T06:41:33.870204Z', 'bastion-3', 1250, 'Disconnected from authenticating user root 216.160.83.57 port 33012 [preauth]')
    + auth('ssh_disconnect', 'failure', login, ['end'], 'root', '216.160.83.57', 33012),
  ]),

  local line = '2026-11-23T06:52:47.119380+00:00 bastion-3 sshd[1236]: Received disconnect from 2001:480:10::25 port 50122:11: disconnected by user';
  s.test('ISO form: received disconnect at the end of a session', [line], [
    doc(line, '2026-11-23T06:52:47.119380Z', 'bastion-3', 1236, 'Received disconnect from 2001:480:10::25 port 50122:11: disconnected by user')
    + auth('ssh_disconnect', 'success', login, ['end'], null, '2001:480:10::25', 50122)
    + { event+: { reason: 'disconnected by user' } },
  ]),

  // --- Other OpenSSH versions and settings ---------------------------------------------------
  local line = 'Nov 23 06:27:30 bastion-1 sshd-session[2470]: Accepted publickey for erin from 10.0.1.10 port 42110 ssh2: ED25519 SHA256:Ab3nX0pZ7qYhT2fKc9LmVw4RsUeJdG1oHiQ8tBzC5yE';
  s.test('OpenSSH 9.8+: auth lines come from sshd-session', [line], [
    doc(line, '2026-11-23T06:27:30Z', 'bastion-1', 2470, 'Accepted publickey for erin from 10.0.1.10 port 42110 ssh2: ED25519 SHA256:Ab3nX0pZ7qYhT2fKc9LmVw4RsUeJdG1oHiQ8tBzC5yE', 'sshd-session')
    + auth('ssh_login', 'success', login, ['info'], 'erin', '10.0.1.10', 42110)
    + ssh('Accepted', 'publickey', 'ED25519 SHA256:Ab3nX0pZ7qYhT2fKc9LmVw4RsUeJdG1oHiQ8tBzC5yE'),
  ]),

  local closed = 'Nov 23 06:27:31 bastion-1 sshd[2471]: Connection closed by 89.160.20.156 [preauth]';
  local received = 'Nov 23 06:27:32 bastion-1 sshd[2472]: Received disconnect from 89.160.20.156: 11: Bye Bye [preauth]';
  s.test('OpenSSH before 7.4: no port after the address', [closed, received], [
    doc(closed, '2026-11-23T06:27:31Z', 'bastion-1', 2471, 'Connection closed by 89.160.20.156 [preauth]')
    + auth('ssh_connection_closed', 'failure', login, ['end'], null, '89.160.20.156'),
    doc(received, '2026-11-23T06:27:32Z', 'bastion-1', 2472, 'Received disconnect from 89.160.20.156: 11: Bye Bye [preauth]')
    + auth('ssh_disconnect', 'failure', login, ['end'], null, '89.160.20.156')
    + { event+: { reason: 'Bye Bye' } },
  ]),

  local line = 'Nov 23 06:27:33 bastion-1 sshd[2473]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=scanner.example.net  user=root';
  s.test('UseDNS: a PAM rhost that is a name goes to source.domain', [line], [
    doc(line, '2026-11-23T06:27:33Z', 'bastion-1', 2473, 'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=scanner.example.net  user=root')
    + auth('ssh_pam_auth_failure', 'failure', attempt, ['info'], 'root')
    + { source: { domain: 'scanner.example.net' } },
  ]),

  // --- Attacker-controlled text that real sshd logs (malformed.log lines 15, 16, 20, 21) ------
  local line = 'Nov 23 06:27:20 bastion-1 sshd[2462]: Failed password for invalid user x from 10.9.9.9 port 22 ssh2 from 89.160.20.156 port 41411 ssh2';
  s.test('log injection through the user name: the real client is the last on the line', [line], [
    doc(line, '2026-11-23T06:27:20Z', 'bastion-1', 2462, 'Failed password for invalid user x from 10.9.9.9 port 22 ssh2 from 89.160.20.156 port 41411 ssh2')
    + auth('ssh_login', 'failure', attempt, ['info'], 'x from 10.9.9.9 port 22 ssh2', '89.160.20.156', 41411)
    + ssh('Failed', 'password'),
  ]),

  local line = 'Nov 23 06:27:19 bastion-1 sshd[2461]: Invalid user \u001b[31madmin\u001b[0m from 89.160.20.156 port 41410';
  s.test('terminal escapes in a user name are kept as they are (displays must escape them)', [line], [
    doc(line, '2026-11-23T06:27:19Z', 'bastion-1', 2461, 'Invalid user \u001b[31madmin\u001b[0m from 89.160.20.156 port 41410')
    + auth('ssh_invalid_user', 'failure', attempt, ['info'], '\u001b[31madmin\u001b[0m', '89.160.20.156', 41410)
    + ssh('Invalid'),
  ]),

  local empty = 'Nov 23 06:27:15 bastion-1 sshd[2458]: Invalid user  from 89.160.20.156 port 41408';
  local short = 'Nov 23 06:27:14 bastion-1 sshd[2457]: Accepted publickey for alice from 81.2.69.160 port 51600 ssh2: ED25519 SHA256:abc';
  s.test('an empty user name is left out; a short key fingerprint is kept as it is', [empty, short], [
    doc(empty, '2026-11-23T06:27:15Z', 'bastion-1', 2458, 'Invalid user  from 89.160.20.156 port 41408')
    + auth('ssh_invalid_user', 'failure', attempt, ['info'], null, '89.160.20.156', 41408)
    + ssh('Invalid'),
    doc(short, '2026-11-23T06:27:14Z', 'bastion-1', 2457, 'Accepted publickey for alice from 81.2.69.160 port 51600 ssh2: ED25519 SHA256:abc')
    + auth('ssh_login', 'success', login, ['info'], 'alice', '81.2.69.160', 51600)
    + ssh('Accepted', 'publickey', 'ED25519 SHA256:abc'),
  ]),

  // --- What is not an sshd auth event --------------------------------------------------------
  local lines = [
    'Nov 23 06:17:01 bastion-1 CRON[2211]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)',
    'Nov 23 06:21:44 bastion-1 systemd-logind[611]: New session 42 of user alice.',
    'Nov 23 06:22:10 bastion-1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/tail -n 50 /var/log/auth.log',
    '<30>1 2026-11-23T06:32:20.640117+00:00 bastion-2 systemd 1 - - Started session-7.scope - Session 7 of User alice.',
    '2026-11-23T06:45:00.001377+00:00 bastion-3 CRON[1262]: pam_unix(cron:session): session opened for user deploy(uid=1003) by (uid=0)',
  ];
  s.test('lines from other programs pass through unchanged', lines, lines),

  local session = 'Nov 23 06:21:44 bastion-1 sshd[2304]: pam_unix(sshd:session): session opened for user alice(uid=1001) by (uid=0)';
  local check = 'Nov 23 06:26:04 bastion-1 sshd[2430]: pam_unix(sshd:auth): check pass; user unknown';
  local garbage = 'Nov 23 06:27:02 bastion-1 sshd[2450]: x9#kQ!! §§ ZZZZ ]]][[[ ok?';
  s.test('other sshd messages keep their header but get no action or outcome', [session, check, garbage], [
    doc(session, '2026-11-23T06:21:44Z', 'bastion-1', 2304, 'pam_unix(sshd:session): session opened for user alice(uid=1001) by (uid=0)'),
    doc(check, '2026-11-23T06:26:04Z', 'bastion-1', 2430, 'pam_unix(sshd:auth): check pass; user unknown'),
    doc(garbage, '2026-11-23T06:27:02Z', 'bastion-1', 2450, 'x9#kQ!! §§ ZZZZ ]]][[[ ok?'),
  ]),

  s.test('blank lines are dropped by rule', ['', '   \t  '], []),

  // --- The error route (malformed.log) -------------------------------------------------------
  s.test('broken headers go to the error route', [
    'Foo 99 99:99:99 bastion-1 sshd[2451]: Failed password for root from 89.160.20.156 port 41400 ssh2',
    'Nov 23 06:27:04 sshd[2452]: Failed password for root from 89.160.20.156 port 41401 ssh2',
    'Nov 23 06:27:05 bastion-1 sshd[abc]: Failed password for root from 89.160.20.156 port 41402 ssh2',
    'Nov 23 06:27:09',
    'Feb 30 06:27:10 bastion-1 sshd[2456]: Failed password for root from 89.160.20.156 port 41404 ssh2',
    '<38 1 2026-11-23T06:27:11.000000+00:00 bastion-2 sshd 3201 - - Failed password for root from 89.160.20.156 port 41405 ssh2',
    '<999>1 2026-11-23T06:27:12.000000+00:00 bastion-2 sshd 3202 - - Failed password for root from 89.160.20.156 port 41406 ssh2',
    '2026-13-45T25:61:00.000000+00:00 bastion-3 sshd[1301]: Failed password for root from 89.160.20.156 port 41407 ssh2',
    'Nov 23 06:27:21 bastion-1 sshd[2463] Failed password for root from 89.160.20.156 port 41412 ssh2',
    '{"__REALTIME_TIMESTAMP":"1795415242000000","_HOSTNAME":"bastion-3","SYSLOG_IDENTIFIER":"sshd","_PID":"1302","MESSAGE":"Failed password for root from 89.160.20.156 port 41413 ssh2"}',
  ], [], errors=10),

  s.test('truncated or malformed sshd messages go to the error route', [
    'Nov 23 06:27:01 bastion-1 sshd[2450]: Failed password for ro',
    'Nov 23 06:27:06 bastion-1 sshd[2453]: Failed password for  from  port ssh2',
    'Nov 23 06:27:07 bastion-1 sshd[2454]: Failed password for root from 89.160.20.156 port 70000 ssh2',
    'Nov 23 06:27:08 bastion-1 sshd[2455]: Failed password for root from 999.1.1.1 port 41403 ssh2',
    'Nov 23 06:27:16 bastion-1 sshd[2459]: Failed password for root from 89.160.20.156 port -1 ssh2',
    'Nov 23 06:27:23 bastion-1 sshd[2464]: Failed password for root from 89.160.20.156 port 41414 ssh2Nov 23 06:27:23 bastion-1 sshd[2465]: Failed password for root from 89.160.20.156 port 41415 ssh2',
  ], [], errors=6),

  // --- A batch keeps its order, and a bad line does not hold up the good ones ----------------
  local failed = 'Nov 23 06:25:08 bastion-1 sshd[2411]: Failed password for root from 89.160.20.156 port 41240 ssh2';
  local cron = 'Nov 23 06:17:01 bastion-1 CRON[2210]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)';
  local invalid = 'Nov 23 06:26:40 bastion-1 sshd[2441]: Invalid user oracle from 89.160.20.156 port 41288';
  s.test('a mixed batch keeps its order', [failed, cron, 'Nov 23 06:27:09', invalid], [
    doc(failed, '2026-11-23T06:25:08Z', 'bastion-1', 2411, 'Failed password for root from 89.160.20.156 port 41240 ssh2')
    + auth('ssh_login', 'failure', attempt, ['info'], 'root', '89.160.20.156', 41240)
    + ssh('Failed', 'password'),
    cron,
    doc(invalid, '2026-11-23T06:26:40Z', 'bastion-1', 2441, 'Invalid user oracle from 89.160.20.156 port 41288')
    + auth('ssh_invalid_user', 'failure', attempt, ['info'], 'oracle', '89.160.20.156', 41288)
    + ssh('Invalid'),
  ], errors=1),
];

sshd {
  transforms: [
    if t.type == 'parse.syslog' then t { reference_time: '2026-11-23T07:00:00Z' } else t
    for t in super.transforms
  ],
  tests: tests,
}
