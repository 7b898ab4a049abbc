// sshd authentication logs to Elastic Common Schema (ECS 8.x).
//
// Input: syslog lines, one per message, in any of the shapes hosts write them:
// RFC 3164 with or without a year (`Nov 23 06:25:03 bastion-1 sshd[2411]: ...`), RFC 5424
// (`<38>1 2026-11-23T06:30:14.118022+00:00 bastion-2 sshd 3120 - - ...`), and the ISO form that
// rsyslog and journald write (`2026-11-23T06:40:11.482913+00:00 bastion-3 sshd[1236]: ...`).
//
//   sluice run -c configs/ecs/sshd.jsonnet examples/data/sshd/auth.log
//
// What comes out:
// - sshd (and OpenSSH 9.8+'s sshd-session / sshd-auth) auth events as ECS documents:
//   `@timestamp`, `host.hostname`, `process.name`/`pid`, `message`, `event.kind/category/type/
//   action/outcome`, `user.name`, `source.ip`/`port`, `related.ip`/`user` (arrays),
//   `event.original` (the raw line) and `event.hash` (its SHA-256), plus Elastic's
//   `system.auth.ssh.event/method/signature` so existing dashboards keep working.
//   The auth events (`event.reason` holds the why of a disconnect):
//     event.action           message                                        event.outcome
//     ssh_login              Accepted|Failed <method> for <user> from ...   success|failure
//     ssh_invalid_user       Invalid user <user> from ...                   failure
//     ssh_max_auth_attempts  error: maximum authentication attempts ...     failure
//     ssh_pam_auth_failure   pam_unix(sshd:auth): authentication failure    failure
//     ssh_connection_closed  Connection closed|reset by ...                 failure if [preauth],
//     ssh_disconnect         Disconnected from / Disconnecting /             else success
//                            Received disconnect from ...
// - Other sshd messages (`Server listening on ...`, `pam_unix(sshd:session): session opened ...`)
//   keep the header fields, `message`, `event.kind`, `event.original` and `event.hash`, but get
//   no action, category or outcome: they are not authentication events.
// - Lines from other programs (CRON, sudo, systemd...) pass through unchanged, as the raw line.
// - Blank lines are dropped by rule (the account counts them as dropped).
// - Everything else reaches the error route with the reason: a line that is not syslog or
//   whose header is broken (bad timestamp, missing host name, `sshd[abc]`, priority `<999>`...);
//   an sshd message that starts like an auth event but is cut short or malformed (see
//   `truncated` below); a port outside 0-65535; a client address that is not an IP; two lines
//   glued together. Nothing is guessed: no event with `user.name: "ro"` from a line cut in the
//   middle of `root`, no time set to now for an unreadable timestamp.
//
// RFC 3164 times carry no year or zone. The year is inferred (the latest that does not put the
// line more than 31 days in the future) and the time is read in `timezone` below: set it to
// your hosts' zone if they log local time. The tests are in sshd_test.jsonnet, which pins the
// clock the year is inferred from.
local s = import 'sluice.libsonnet';

local timezone = 'UTC';

// --- sshd messages -------------------------------------------------------------------------
// Group names are the fields they fill (`__` nests: `source__ip` is `source.ip`). User names
// are attacker-chosen and may hold spaces, `from ... port ...` or terminal escapes, so every
// pattern is anchored at both ends and the user group is greedy: the real client address is
// the last `<ip> port <n>` on the line, whatever the name holds (log injection cannot move it).
local user = @'(?P<user__name>.*)';
local ip = @'(?P<source__ip>\S+)';
local client = ip + @' port (?P<source__port>\d+)';
local client_maybe_port = ip + @'(?: port (?P<source__port>\d+))?';  // older OpenSSH leaves out the port
local method = @'(?P<system__auth__ssh__method>\S+)';
local key = @'(?:: (?P<system__auth__ssh__signature>.+?))?';  // `: ED25519 SHA256:...`
local preauth = @'(?: \[preauth\])?';  // sshd's unprivileged pre-auth process tags its lines so
local who = '(?:(?:authenticating |invalid )?user ' + user + ' )?';  // `invalid user admin ` or nothing
local reason = '(?P<event__reason>.*)';

local event(action, outcome, category, type) = {
  'event.action': action,
  'event.outcome': outcome,
  'event.category': category,
  'event.type': type,
};

// How a connection ended. With ` [preauth]` the client never logged in: a failure. Without it,
// an authenticated session ended normally: a success.
local ended(action, body) = [
  {
    pattern: '^' + body + @' \[preauth\]$',
    set: event(action, 'failure', ['authentication', 'session'], ['end']),
  },
  {
    pattern: '^' + body + '$',
    set: event(action, 'success', ['authentication', 'session'], ['end']),
  },
];

// A message that starts with the fixed words of an auth event but matched none of the full
// patterns above it was cut short or mangled. It goes to the error route with what was
// expected, rather than through as chatter: an event that lost its user or source would
// undercount a brute force.
local truncated(start, expected) = {
  pattern: start,
  'error': 'truncated or malformed sshd message, expected `' + expected + '`',
};

local patterns = [
  // A lost newline glues two lines together. The second header then sits inside the message,
  // and the anchored patterns would take the user from one line and the source from the other.
  {
    pattern: @'(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d \S+ \S+: |\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* \S+ \S+: ',
    'error': 'two syslog lines glued together (a newline is missing), so their fields cannot be told apart',
  },
  {
    pattern: '^Accepted ' + method + ' for ' + user + ' from ' + client + ' ssh2' + key + '$',
    set: event('ssh_login', 'success', ['authentication', 'session'], ['info'])
         + { 'system.auth.ssh.event': 'Accepted' },
  },
  {
    pattern: '^Failed ' + method + ' for (?:invalid user )?' + user + ' from ' + client + ' ssh2' + key + preauth + '$',
    set: event('ssh_login', 'failure', ['authentication'], ['info'])
         + { 'system.auth.ssh.event': 'Failed' },
  },
  {
    pattern: '^Invalid user ' + user + ' from ' + client_maybe_port + preauth + '$',
    set: event('ssh_invalid_user', 'failure', ['authentication'], ['info'])
         + { 'system.auth.ssh.event': 'Invalid' },
  },
  {
    pattern: '^error: maximum authentication attempts exceeded for (?:invalid user )?' + user
             + ' from ' + client + ' ssh2' + preauth + '$',
    set: event('ssh_max_auth_attempts', 'failure', ['authentication'], ['info']),
  },
  // PAM's rhost is the client's address, or its name when sshd runs with UseDNS: a dotted
  // quad or anything with a colon is an address (and must be a valid one), the rest a name.
  {
    pattern: @'^pam_unix\(sshd:auth\): authentication failure; logname=\S* uid=\d* euid=\d* tty=\S* ruser=\S* rhost='
             + @'(?:(?P<source__ip>[0-9.]+|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)|(?P<source__domain>\S+))?'
             + @'(?:\s+user=' + user + ')?$',
    set: event('ssh_pam_auth_failure', 'failure', ['authentication'], ['info']),
  },
] + ended('ssh_connection_closed', 'Connection (?:closed|reset) by ' + who + client)
  + ended('ssh_connection_closed', 'Connection (?:closed|reset) by ' + ip)  // OpenSSH < 7.4: no port
  + ended('ssh_disconnect', 'Disconnected from ' + who + client)
  + ended('ssh_disconnect', 'Disconnected from ' + ip)
  + ended('ssh_disconnect', 'Disconnecting ' + who + client + ': ' + reason)
  + ended('ssh_disconnect', 'Received disconnect from ' + client_maybe_port + @': ?\d+: ' + reason)
  + [
    truncated(@'^(?:Accepted|Failed) \S+(?: for |$)', 'Accepted|Failed <method> for [invalid user ]<user> from <ip> port <port> ssh2[: <key>]'),
    truncated('^Invalid user ', 'Invalid user <user> from <ip> port <port>'),
    truncated('^error: maximum authentication attempts exceeded ', 'error: maximum authentication attempts exceeded for <user> from <ip> port <port> ssh2'),
    truncated(@'^pam_unix\(sshd:auth\): authentication failure', 'pam_unix(sshd:auth): authentication failure; logname= uid= euid= tty= ruser= rhost=<ip> user=<user>'),
    truncated('^(?:Connection (?:closed|reset) by|Disconnected from|Disconnecting|Received disconnect from) ', '... [[authenticating |invalid ]user <user> ]<ip> port <port>'),
  ];

local exists(field) = { type: 'exists', source: field };

// related.ip and related.user are arrays: start one when there is something to put in it,
// then append to it (`-1` is one past the end).
local related(from, to) = [
  { type: 'object.insert', target: to, value: [], when: exists(from) },
  { type: 'object.copy', source: from, target: to + '.-1', when: exists(from) },
];

local sshd = [
  {
    type: 'parse.regex',
    source: 'message',
    patterns: patterns,
    // A port outside 0-65535, or a "999.1.1.1" address, is an error, not an event.
    convert: { 'source.ip': 'ip', 'source.port': 'port' },
  },
  { type: 'object.insert', target: 'event.kind', value: 'event' },
] + related('source.ip', 'related.ip') + related('user.name', 'related.user') + [
  { type: 'object.copy', source: '@meta.original', target: 'event.original' },
  { type: 'hash.sha256', source: 'event.original', target: 'event.hash' },
  { type: 'object.insert', target: 'ecs.version', value: '8.11.0' },
];

s.pipeline(
  [
    { type: 'utility.drop', when: { type: 'string.match', pattern: @'^\s*$' } },
    // The raw line, exactly as it came: for event.original, and for lines that are not sshd.
    { type: 'object.copy', source: '', target: '@meta.original' },
    // The header: @timestamp, host.hostname, process.name, process.pid, message, log.syslog.*.
    { type: 'parse.syslog', timezone: timezone },
    {
      type: 'meta.switch',
      cases: [
        {
          when: { type: 'string.match', source: 'process.name', pattern: '^sshd(?:-session|-auth)?$' },
          transforms: sshd,
        },
        // CRON, sudo, systemd, ...: out as the raw line they came in as.
        { transforms: [{ type: 'object.copy', source: '@meta.original', target: '' }] },
      ],
    },
  ],
  // The error route gets the line as it came (the reason is in @meta.error), ready to replay.
  errors=[{ type: 'object.copy', source: '@meta.original', target: '' }],
)
