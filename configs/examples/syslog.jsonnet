// Who ran what as root: sudo's syslog lines to ECS, with parse.syslog for the header and
// parse.regex for sudo's own message. The same two steps read any program's syslog lines;
// configs/ecs/sshd.jsonnet is the full-size example.
//
//   sluice run -c configs/examples/syslog.jsonnet /var/log/auth.log
local s = import 'sluice.libsonnet';

// sudo writes `<user> : [<why it refused> ; ]TTY=... ; PWD=... ; USER=<as whom> ; COMMAND=...`.
local tail = @'TTY=\S+ ; PWD=(?P<process__working_directory>.+?) ; USER=(?P<user__effective__name>\S+) ; COMMAND=(?P<process__command_line>.*)$';

s.pipeline(
  [
    // @timestamp, host.hostname, process.name/pid, message (the ISO form here carries its zone).
    { type: 'parse.syslog' },
    {
      type: 'parse.regex',
      when: { type: 'string.eq', source: 'process.name', value: 'sudo' },
      source: 'message',
      patterns: [
        {
          pattern: @'^\s*(?P<user__name>\S+) : ' + tail,
          set: { 'event.action': 'sudo_command', 'event.outcome': 'success', 'event.category': ['process'] },
        },
        {
          pattern: @'^\s*(?P<user__name>\S+) : (?P<event__reason>[^;]+?) ; ' + tail,
          set: { 'event.action': 'sudo_command', 'event.outcome': 'failure', 'event.category': ['process'] },
        },
      ],
    },
  ],
  tests=[
    s.test(
      'a command run as root',
      ['2026-11-23T06:22:10.331207+00:00 bastion-3 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/tail -n 50 /var/log/auth.log'],
      [{
        '@timestamp': '2026-11-23T06:22:10.331207Z',
        host: { hostname: 'bastion-3' },
        process: { name: 'sudo', working_directory: '/home/alice', command_line: '/usr/bin/tail -n 50 /var/log/auth.log' },
        user: { name: 'alice', effective: { name: 'root' } },
        event: { action: 'sudo_command', outcome: 'success', category: ['process'] },
        message: '   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/tail -n 50 /var/log/auth.log',
      }],
    ),
    s.test(
      'a user who may not use sudo',
      ['<85>2026-11-23T07:12:44+00:00 bastion-3 sudo: mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash'],
      [{
        '@timestamp': '2026-11-23T07:12:44Z',
        host: { hostname: 'bastion-3' },
        process: { name: 'sudo', working_directory: '/tmp', command_line: '/bin/bash' },
        user: { name: 'mallory', effective: { name: 'root' } },
        event: { action: 'sudo_command', outcome: 'failure', category: ['process'], reason: 'user NOT in sudoers' },
        log: { syslog: { priority: 85, facility: { code: 10, name: 'authpriv' }, severity: { code: 5, name: 'notice' } } },
        message: 'mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash',
      }],
    ),
    s.test(
      'other programs get the header fields only',
      ['2026-11-23T06:45:00.001377+00:00 bastion-3 CRON[1262]: (root) CMD (run-parts /etc/cron.hourly)'],
      [{
        '@timestamp': '2026-11-23T06:45:00.001377Z',
        host: { hostname: 'bastion-3' },
        process: { name: 'CRON', pid: 1262 },
        message: '(root) CMD (run-parts /etc/cron.hourly)',
      }],
    ),
    s.test('a line that is not syslog goes to the error route', ['sudo: alice ran something'], [], errors=1),
  ],
)
