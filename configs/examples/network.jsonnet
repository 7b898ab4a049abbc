// Network context for VPC flow records and DNS queries (Route 53 Resolver query logs):
//  - a Community ID, so one flow joins up across VPC flow logs, Zeek, Suricata and Elastic;
//  - the class of each address, and `network.direction: egress` for private hosts talking to
//    the internet (the CIDR list keeps shared/CGNAT space out of "internet");
//  - the registered domain, subdomain and public suffix of each queried name.
// Flow records whose addresses are not IPs (NODATA/SKIPDATA records write "-") pass untouched.
local s = import 'sluice.libsonnet';

local flow = { type: 'all', conditions: [
  { type: 'network.ip.valid', source: 'srcaddr' },
  { type: 'network.ip.valid', source: 'dstaddr' },
] };
local internal = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'];

s.pipeline(
  [
    {
      type: 'network.community_id',
      source_ip: 'srcaddr',
      destination_ip: 'dstaddr',
      source_port: 'srcport',
      destination_port: 'dstport',
      protocol: 'protocol',
      target: 'network.community_id',
      when: flow,
    },
    { type: 'network.ip_class', source: 'srcaddr', target: 'source.class', when: flow },
    { type: 'network.ip_class', source: 'dstaddr', target: 'destination.class', when: flow },
    {
      type: 'object.insert',
      target: 'network.direction',
      value: 'egress',
      when: { type: 'all', conditions: [
        flow,
        { type: 'network.ip.private', source: 'srcaddr' },
        { type: 'network.ip.global_unicast', source: 'dstaddr' },
        { type: 'none', conditions: [{ type: 'network.ip.in_cidr', source: 'dstaddr', value: internal }] },
      ] },
    },
    { type: 'network.registered_domain', source: 'query_name', target: 'dns.question.registered_domain' },
    { type: 'network.subdomain', source: 'query_name', target: 'dns.question.subdomain' },
    { type: 'network.top_level_domain', source: 'query_name', target: 'dns.question.top_level_domain' },
  ],
  tests=[
    s.test(
      'both directions of a flow get the same Community ID',
      [
        { srcaddr: '10.0.1.10', dstaddr: '81.2.69.160', srcport: 51514, dstport: 443, protocol: 6 },
        { srcaddr: '81.2.69.160', dstaddr: '10.0.1.10', srcport: 443, dstport: 51514, protocol: 6 },
      ],
      [
        {
          srcaddr: '10.0.1.10', dstaddr: '81.2.69.160', srcport: 51514, dstport: 443, protocol: 6,
          network: { community_id: '1:HsbS/r4qTCvHaM90hBPIQp6X0dk=', direction: 'egress' },
          source: { class: 'private' },
          destination: { class: 'global' },
        },
        {
          srcaddr: '81.2.69.160', dstaddr: '10.0.1.10', srcport: 443, dstport: 51514, protocol: 6,
          network: { community_id: '1:HsbS/r4qTCvHaM90hBPIQp6X0dk=' },
          source: { class: 'global' },
          destination: { class: 'private' },
        },
      ],
    ),
    s.test(
      'the Community ID spec baseline flow (ports as text, protocol by name)',
      [{ srcaddr: '128.232.110.120', dstaddr: '66.35.250.204', srcport: '34855', dstport: '80', protocol: 'tcp' }],
      [{
        srcaddr: '128.232.110.120', dstaddr: '66.35.250.204', srcport: '34855', dstport: '80', protocol: 'tcp',
        network: { community_id: '1:LQU9qZlK+B5F3KDmev6m5PMibrg=' },
        source: { class: 'global' },
        destination: { class: 'global' },
      }],
    ),
    s.test(
      'traffic to carrier-grade NAT space is not egress',
      [{ srcaddr: '10.0.1.5', dstaddr: '100.64.3.2', srcport: 40000, dstport: 53, protocol: 17 }],
      [{
        srcaddr: '10.0.1.5', dstaddr: '100.64.3.2', srcport: 40000, dstport: 53, protocol: 17,
        network: { community_id: '1:A62s3GxQD+itzY6fNCj2QMOGRzA=' },
        source: { class: 'private' },
        destination: { class: 'shared' },
      }],
    ),
    s.test(
      'a NODATA flow record passes untouched',
      [{ srcaddr: '-', dstaddr: '-', srcport: '-', dstport: '-', protocol: '-', 'log-status': 'NODATA' }],
      [{ srcaddr: '-', dstaddr: '-', srcport: '-', dstport: '-', protocol: '-', 'log-status': 'NODATA' }],
    ),
    s.test(
      'a DNS query name is split with the public suffix list',
      [
        { query_name: 'login.Example.co.uk.', srcaddr: '10.0.1.10' },
        { query_name: 'my-bucket.s3.amazonaws.com.', srcaddr: '10.0.1.10' },
      ],
      [
        {
          query_name: 'login.Example.co.uk.', srcaddr: '10.0.1.10',
          dns: { question: { registered_domain: 'example.co.uk', subdomain: 'login', top_level_domain: 'co.uk' } },
        },
        {
          query_name: 'my-bucket.s3.amazonaws.com.', srcaddr: '10.0.1.10',
          dns: { question: { registered_domain: 'my-bucket.s3.amazonaws.com', top_level_domain: 's3.amazonaws.com' } },
        },
      ],
    ),
    s.test(
      'a port out of range goes to the error route',
      [{ srcaddr: '10.0.1.10', dstaddr: '81.2.69.160', srcport: 70000, dstport: 443, protocol: 6 }],
      [],
      errors=1,
    ),
  ],
)
