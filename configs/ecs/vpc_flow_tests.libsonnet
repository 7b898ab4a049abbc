// Generated from real sample lines by running the pipeline, then reviewed by hand.
// Each case: input lines as they arrive, and the ECS documents they must become.
[
  {
    "name": "v2 default format, accepted inbound ssh",
    "input": [
      "2 123456789012 eni-0a1b2c3d4e5f60001 81.2.69.160 10.0.1.10 51514 22 6 412 38211 1795414861 1795414920 ACCEPT OK"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T06:22:00Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795414920,
            "interface_description": "bastion-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60001",
            "log_status": "OK",
            "protocol": 6,
            "start": 1795414861,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "destination": {
          "address": "10.0.1.10",
          "ip": "10.0.1.10",
          "port": 22
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:22:00Z",
          "hash": "f92a7db5ab15c1c36f6a0380d09edb7458a0707fa8286cdf395ecea9826c3299",
          "kind": "event",
          "original": "2 123456789012 eni-0a1b2c3d4e5f60001 81.2.69.160 10.0.1.10 51514 22 6 412 38211 1795414861 1795414920 ACCEPT OK",
          "outcome": "success",
          "start": "2026-11-23T06:21:01Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 38211,
          "iana_number": "6",
          "packets": 412,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "81.2.69.160",
            "10.0.1.10"
          ]
        },
        "source": {
          "address": "81.2.69.160",
          "bytes": 38211,
          "ip": "81.2.69.160",
          "packets": 412,
          "port": 51514
        }
      }
    ]
  },
  {
    "name": "v2 with its S3 header line (the header is dropped, not output)",
    "input": [
      "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
      "2 123456789012 eni-0a1b2c3d4e5f60001 81.2.69.160 10.0.1.10 51514 22 6 412 38211 1795414861 1795414920 ACCEPT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60001 10.0.1.10 81.2.69.160 22 51514 6 398 61044 1795414861 1795414920 ACCEPT OK"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T06:22:00Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795414920,
            "interface_description": "bastion-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60001",
            "log_status": "OK",
            "protocol": 6,
            "start": 1795414861,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "destination": {
          "address": "10.0.1.10",
          "ip": "10.0.1.10",
          "port": 22
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:22:00Z",
          "hash": "f92a7db5ab15c1c36f6a0380d09edb7458a0707fa8286cdf395ecea9826c3299",
          "kind": "event",
          "original": "2 123456789012 eni-0a1b2c3d4e5f60001 81.2.69.160 10.0.1.10 51514 22 6 412 38211 1795414861 1795414920 ACCEPT OK",
          "outcome": "success",
          "start": "2026-11-23T06:21:01Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 38211,
          "iana_number": "6",
          "packets": 412,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "81.2.69.160",
            "10.0.1.10"
          ]
        },
        "source": {
          "address": "81.2.69.160",
          "bytes": 38211,
          "ip": "81.2.69.160",
          "packets": 412,
          "port": 51514
        }
      },
      {
        "@timestamp": "2026-11-23T06:22:00Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795414920,
            "interface_description": "bastion-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60001",
            "log_status": "OK",
            "protocol": 6,
            "start": 1795414861,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "destination": {
          "address": "81.2.69.160",
          "ip": "81.2.69.160",
          "port": 51514
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:22:00Z",
          "hash": "51c5cfb73c5001934cc75a119d1759784ba37c4240225c69782e58caa1701bcf",
          "kind": "event",
          "original": "2 123456789012 eni-0a1b2c3d4e5f60001 10.0.1.10 81.2.69.160 22 51514 6 398 61044 1795414861 1795414920 ACCEPT OK",
          "outcome": "success",
          "start": "2026-11-23T06:21:01Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 61044,
          "iana_number": "6",
          "packets": 398,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "10.0.1.10",
            "81.2.69.160"
          ]
        },
        "source": {
          "address": "10.0.1.10",
          "bytes": 61044,
          "ip": "10.0.1.10",
          "packets": 398,
          "port": 22
        }
      }
    ]
  },
  {
    "name": "v2 rejected ssh from the internet",
    "input": [
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41301 22 6 1 60 1795415221 1795415280 REJECT OK"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T06:28:00Z",
        "aws": {
          "vpcflow": {
            "action": "REJECT",
            "end": 1795415280,
            "interface_description": "web-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60002",
            "log_status": "OK",
            "protocol": 6,
            "start": 1795415221,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "destination": {
          "address": "10.0.1.11",
          "ip": "10.0.1.11",
          "port": 22
        },
        "event": {
          "action": "reject",
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:28:00Z",
          "hash": "6cfadbc98dd1ed1ccfca324d1e8904a4976a10d585bafc4b7e7e6db4f610b415",
          "kind": "event",
          "original": "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41301 22 6 1 60 1795415221 1795415280 REJECT OK",
          "outcome": "failure",
          "start": "2026-11-23T06:27:01Z",
          "type": [
            "connection",
            "denied"
          ]
        },
        "network": {
          "bytes": 60,
          "iana_number": "6",
          "packets": 1,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "89.160.20.156",
            "10.0.1.11"
          ]
        },
        "source": {
          "address": "89.160.20.156",
          "bytes": 60,
          "ip": "89.160.20.156",
          "packets": 1,
          "port": 41301
        }
      }
    ]
  },
  {
    "name": "v2 udp (dns)",
    "input": [
      "2 123456789012 eni-0a1b2c3d4e5f60002 10.0.1.11 216.160.83.57 123 123 17 1 76 1795414812 1795414870 ACCEPT OK"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T06:21:10Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795414870,
            "interface_description": "web-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60002",
            "log_status": "OK",
            "protocol": 17,
            "start": 1795414812,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "destination": {
          "address": "216.160.83.57",
          "ip": "216.160.83.57",
          "port": 123
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:21:10Z",
          "hash": "c9e89fbdcf882b83d860205e7b16756d86c904aea5f7030c2fd412c6c8f621e4",
          "kind": "event",
          "original": "2 123456789012 eni-0a1b2c3d4e5f60002 10.0.1.11 216.160.83.57 123 123 17 1 76 1795414812 1795414870 ACCEPT OK",
          "outcome": "success",
          "start": "2026-11-23T06:20:12Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 76,
          "iana_number": "17",
          "packets": 1,
          "transport": "udp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "10.0.1.11",
            "216.160.83.57"
          ]
        },
        "source": {
          "address": "10.0.1.11",
          "bytes": 76,
          "ip": "10.0.1.11",
          "packets": 1,
          "port": 123
        }
      }
    ]
  },
  {
    "name": "v2 icmp",
    "input": [
      "2 123456789012 eni-0a1b2c3d4e5f60002 175.16.199.1 10.0.1.11 0 0 1 4 336 1795414990 1795415050 ACCEPT OK"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T06:24:10Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795415050,
            "interface_description": "web-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60002",
            "log_status": "OK",
            "protocol": 1,
            "start": 1795414990,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "destination": {
          "address": "10.0.1.11",
          "ip": "10.0.1.11",
          "port": 0
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:24:10Z",
          "hash": "11ce4c5fc278ecca4626e841ef509dc56382f21052c8a960f983f1e8df2f8166",
          "kind": "event",
          "original": "2 123456789012 eni-0a1b2c3d4e5f60002 175.16.199.1 10.0.1.11 0 0 1 4 336 1795414990 1795415050 ACCEPT OK",
          "outcome": "success",
          "start": "2026-11-23T06:23:10Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 336,
          "iana_number": "1",
          "packets": 4,
          "transport": "icmp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "175.16.199.1",
            "10.0.1.11"
          ]
        },
        "source": {
          "address": "175.16.199.1",
          "bytes": 336,
          "ip": "175.16.199.1",
          "packets": 4,
          "port": 0
        }
      }
    ]
  },
  {
    "name": "v2 ipv6 addresses",
    "input": [
      "2 123456789012 eni-0a1b2c3d4e5f60002 2600:7000:1a2b::25 2001:db8:1234:1a00::11 53644 443 6 18 4921 1795415040 1795415100 ACCEPT OK"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T06:25:00Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795415100,
            "interface_description": "web-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60002",
            "log_status": "OK",
            "protocol": 6,
            "start": 1795415040,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "destination": {
          "address": "2001:db8:1234:1a00::11",
          "ip": "2001:db8:1234:1a00::11",
          "port": 443
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:25:00Z",
          "hash": "7d794bd84de3c3b195d3f24a93e8aeb6c0122490954adc697d1bd08e36ac4385",
          "kind": "event",
          "original": "2 123456789012 eni-0a1b2c3d4e5f60002 2600:7000:1a2b::25 2001:db8:1234:1a00::11 53644 443 6 18 4921 1795415040 1795415100 ACCEPT OK",
          "outcome": "success",
          "start": "2026-11-23T06:24:00Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 4921,
          "iana_number": "6",
          "packets": 18,
          "transport": "tcp",
          "type": "ipv6"
        },
        "related": {
          "ip": [
            "2600:7000:1a2b::25",
            "2001:db8:1234:1a00::11"
          ]
        },
        "source": {
          "address": "2600:7000:1a2b::25",
          "bytes": 4921,
          "ip": "2600:7000:1a2b::25",
          "packets": 18,
          "port": 53644
        }
      }
    ]
  },
  {
    "name": "v2 NODATA record is kept and tagged",
    "input": [
      "2 123456789012 eni-0a1b2c3d4e5f60003 - - - - - - - 1795415341 1795415400 - NODATA"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T06:30:00Z",
        "aws": {
          "vpcflow": {
            "end": 1795415400,
            "interface_description": "app-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60003",
            "log_status": "NODATA",
            "start": 1795415341,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "event": {
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:30:00Z",
          "hash": "59c926742cb890e5878326f15635baf5f42639ddb1acbd363d440d3b6c5b0068",
          "kind": "event",
          "original": "2 123456789012 eni-0a1b2c3d4e5f60003 - - - - - - - 1795415341 1795415400 - NODATA",
          "start": "2026-11-23T06:29:01Z",
          "type": [
            "connection"
          ]
        },
        "tags": [
          "vpcflow-nodata"
        ]
      }
    ]
  },
  {
    "name": "v2 SKIPDATA record is kept and tagged",
    "input": [
      "2 123456789012 eni-0b2c3d4e5f6a70004 - - - - - - - 1795415341 1795415400 - SKIPDATA"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T06:30:00Z",
        "aws": {
          "vpcflow": {
            "end": 1795415400,
            "interface_id": "eni-0b2c3d4e5f6a70004",
            "log_status": "SKIPDATA",
            "start": 1795415341,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "event": {
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:30:00Z",
          "hash": "fcc924cdda7de28dfa6383e05e8c0cba6824276246fff8c6b79b15626ad7f669",
          "kind": "event",
          "original": "2 123456789012 eni-0b2c3d4e5f6a70004 - - - - - - - 1795415341 1795415400 - SKIPDATA",
          "start": "2026-11-23T06:29:01Z",
          "type": [
            "connection"
          ]
        },
        "tags": [
          "vpcflow-skipdata"
        ]
      }
    ]
  },
  {
    "name": "an interface missing from the names map keeps its id, gets no name",
    "input": [
      "2 123456789012 eni-0b2c3d4e5f6a70004 89.160.20.156 10.0.1.13 41305 22 6 1 60 1795415221 1795415280 REJECT OK"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T06:28:00Z",
        "aws": {
          "vpcflow": {
            "action": "REJECT",
            "end": 1795415280,
            "interface_id": "eni-0b2c3d4e5f6a70004",
            "log_status": "OK",
            "protocol": 6,
            "start": 1795415221,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "destination": {
          "address": "10.0.1.13",
          "ip": "10.0.1.13",
          "port": 22
        },
        "event": {
          "action": "reject",
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:28:00Z",
          "hash": "104a397a0dec2802160545a2b700a54140ab20c83e30dfed4fd1236d9a500c48",
          "kind": "event",
          "original": "2 123456789012 eni-0b2c3d4e5f6a70004 89.160.20.156 10.0.1.13 41305 22 6 1 60 1795415221 1795415280 REJECT OK",
          "outcome": "failure",
          "start": "2026-11-23T06:27:01Z",
          "type": [
            "connection",
            "denied"
          ]
        },
        "network": {
          "bytes": 60,
          "iana_number": "6",
          "packets": 1,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "89.160.20.156",
            "10.0.1.13"
          ]
        },
        "source": {
          "address": "89.160.20.156",
          "bytes": 60,
          "ip": "89.160.20.156",
          "packets": 1,
          "port": 41305
        }
      }
    ]
  },
  {
    "name": "v5 custom format from its header: names for vpc, subnet, eni, instance, account",
    "input": [
      "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path",
      "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0def456abc7890123 eni-0a1b2c3d4e5f60002 123456789012 IPv4 89.160.20.156 10.0.1.11 41411 443 89.160.20.156 10.0.1.11 6 4410 12 1795419900 1795419960 ACCEPT 19 OK us-east-1 use1-az1 - - - - ingress -"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T07:46:00Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795419960,
            "interface_description": "web-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60002",
            "log_status": "OK",
            "pkt_dstaddr": "10.0.1.11",
            "pkt_srcaddr": "89.160.20.156",
            "protocol": 6,
            "start": 1795419900,
            "subnet_id": "subnet-0123456789abcdef0",
            "subnet_name": "prod-core-public-a",
            "tcp_flags": 19,
            "tcp_flags_array": [
              "fin",
              "syn",
              "ack"
            ],
            "type": "IPv4",
            "version": 5,
            "vpc_id": "vpc-0a1b2c3d4e5f60718",
            "vpc_name": "prod-core"
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "availability_zone": "use1-az1",
          "instance": {
            "id": "i-0def456abc7890123",
            "name": "web-1"
          },
          "provider": "aws",
          "region": "us-east-1"
        },
        "destination": {
          "address": "10.0.1.11",
          "ip": "10.0.1.11",
          "port": 443
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T07:46:00Z",
          "hash": "55d51c60f38f7308c0ed2eeed6568bdfc0d3f0cb95b37f5f56ef75415643969b",
          "kind": "event",
          "original": "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0def456abc7890123 eni-0a1b2c3d4e5f60002 123456789012 IPv4 89.160.20.156 10.0.1.11 41411 443 89.160.20.156 10.0.1.11 6 4410 12 1795419900 1795419960 ACCEPT 19 OK us-east-1 use1-az1 - - - - ingress -",
          "outcome": "success",
          "start": "2026-11-23T07:45:00Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 4410,
          "direction": "ingress",
          "iana_number": "6",
          "packets": 12,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "89.160.20.156",
            "10.0.1.11"
          ]
        },
        "source": {
          "address": "89.160.20.156",
          "bytes": 4410,
          "ip": "89.160.20.156",
          "packets": 12,
          "port": 41411
        }
      }
    ]
  },
  {
    "name": "v5 egress with traffic-path and tcp flags",
    "input": [
      "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path",
      "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0def456abc7890123 eni-0a1b2c3d4e5f60002 123456789012 IPv4 10.0.1.11 89.160.20.156 443 41411 10.0.1.11 89.160.20.156 6 9821 10 1795419900 1795419960 ACCEPT 19 OK us-east-1 use1-az1 - - - - egress 8"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T07:46:00Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795419960,
            "interface_description": "web-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60002",
            "log_status": "OK",
            "pkt_dstaddr": "89.160.20.156",
            "pkt_srcaddr": "10.0.1.11",
            "protocol": 6,
            "start": 1795419900,
            "subnet_id": "subnet-0123456789abcdef0",
            "subnet_name": "prod-core-public-a",
            "tcp_flags": 19,
            "tcp_flags_array": [
              "fin",
              "syn",
              "ack"
            ],
            "traffic_path": 8,
            "type": "IPv4",
            "version": 5,
            "vpc_id": "vpc-0a1b2c3d4e5f60718",
            "vpc_name": "prod-core"
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "availability_zone": "use1-az1",
          "instance": {
            "id": "i-0def456abc7890123",
            "name": "web-1"
          },
          "provider": "aws",
          "region": "us-east-1"
        },
        "destination": {
          "address": "89.160.20.156",
          "ip": "89.160.20.156",
          "port": 41411
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T07:46:00Z",
          "hash": "f958be42b1dd912d66b5694a9d6d888ce2c8511bf45231b0bbc913dd89d247de",
          "kind": "event",
          "original": "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0def456abc7890123 eni-0a1b2c3d4e5f60002 123456789012 IPv4 10.0.1.11 89.160.20.156 443 41411 10.0.1.11 89.160.20.156 6 9821 10 1795419900 1795419960 ACCEPT 19 OK us-east-1 use1-az1 - - - - egress 8",
          "outcome": "success",
          "start": "2026-11-23T07:45:00Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 9821,
          "direction": "egress",
          "iana_number": "6",
          "packets": 10,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "10.0.1.11",
            "89.160.20.156"
          ]
        },
        "source": {
          "address": "10.0.1.11",
          "bytes": 9821,
          "ip": "10.0.1.11",
          "packets": 10,
          "port": 443
        }
      }
    ]
  },
  {
    "name": "v5 traffic to an AWS service (pkt-dst-aws-service)",
    "input": [
      "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path",
      "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0def456abc7890123 eni-0a1b2c3d4e5f60002 123456789012 IPv4 10.0.1.11 203.0.113.40 40922 443 10.0.1.11 203.0.113.40 6 3377 14 1795419902 1795419961 ACCEPT 3 OK us-east-1 use1-az1 - - - S3 egress 7"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T07:46:01Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795419961,
            "interface_description": "web-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60002",
            "log_status": "OK",
            "pkt_dst_aws_service": "S3",
            "pkt_dstaddr": "203.0.113.40",
            "pkt_srcaddr": "10.0.1.11",
            "protocol": 6,
            "start": 1795419902,
            "subnet_id": "subnet-0123456789abcdef0",
            "subnet_name": "prod-core-public-a",
            "tcp_flags": 3,
            "tcp_flags_array": [
              "fin",
              "syn"
            ],
            "traffic_path": 7,
            "type": "IPv4",
            "version": 5,
            "vpc_id": "vpc-0a1b2c3d4e5f60718",
            "vpc_name": "prod-core"
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "availability_zone": "use1-az1",
          "instance": {
            "id": "i-0def456abc7890123",
            "name": "web-1"
          },
          "provider": "aws",
          "region": "us-east-1"
        },
        "destination": {
          "address": "203.0.113.40",
          "ip": "203.0.113.40",
          "port": 443
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T07:46:01Z",
          "hash": "2fb05e694d16e96bdc97513b0e889924a0051738bcecf7d5bd7252a4fbde63f5",
          "kind": "event",
          "original": "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0def456abc7890123 eni-0a1b2c3d4e5f60002 123456789012 IPv4 10.0.1.11 203.0.113.40 40922 443 10.0.1.11 203.0.113.40 6 3377 14 1795419902 1795419961 ACCEPT 3 OK us-east-1 use1-az1 - - - S3 egress 7",
          "outcome": "success",
          "start": "2026-11-23T07:45:02Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 3377,
          "direction": "egress",
          "iana_number": "6",
          "packets": 14,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "10.0.1.11",
            "203.0.113.40"
          ]
        },
        "source": {
          "address": "10.0.1.11",
          "bytes": 3377,
          "ip": "10.0.1.11",
          "packets": 14,
          "port": 40922
        }
      }
    ]
  },
  {
    "name": "v5 instance missing from the names map keeps its id",
    "input": [
      "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path",
      "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0aa11bb22cc33dd44 eni-0e5f6a7b8c9d00007 123456789012 IPv4 10.0.1.37 89.160.20.156 48820 4444 10.0.1.37 89.160.20.156 6 120 2 1795420050 1795420110 ACCEPT 2 OK us-east-1 use1-az1 - - - - egress 8"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T07:48:30Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795420110,
            "interface_id": "eni-0e5f6a7b8c9d00007",
            "log_status": "OK",
            "pkt_dstaddr": "89.160.20.156",
            "pkt_srcaddr": "10.0.1.37",
            "protocol": 6,
            "start": 1795420050,
            "subnet_id": "subnet-0123456789abcdef0",
            "subnet_name": "prod-core-public-a",
            "tcp_flags": 2,
            "tcp_flags_array": [
              "syn"
            ],
            "traffic_path": 8,
            "type": "IPv4",
            "version": 5,
            "vpc_id": "vpc-0a1b2c3d4e5f60718",
            "vpc_name": "prod-core"
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "availability_zone": "use1-az1",
          "instance": {
            "id": "i-0aa11bb22cc33dd44"
          },
          "provider": "aws",
          "region": "us-east-1"
        },
        "destination": {
          "address": "89.160.20.156",
          "ip": "89.160.20.156",
          "port": 4444
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T07:48:30Z",
          "hash": "8d86d4cbc2432fa0f339582b847297911cb225a6ca280aae84d0df9250bcbc3b",
          "kind": "event",
          "original": "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0aa11bb22cc33dd44 eni-0e5f6a7b8c9d00007 123456789012 IPv4 10.0.1.37 89.160.20.156 48820 4444 10.0.1.37 89.160.20.156 6 120 2 1795420050 1795420110 ACCEPT 2 OK us-east-1 use1-az1 - - - - egress 8",
          "outcome": "success",
          "start": "2026-11-23T07:47:30Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 120,
          "direction": "egress",
          "iana_number": "6",
          "packets": 2,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "10.0.1.37",
            "89.160.20.156"
          ]
        },
        "source": {
          "address": "10.0.1.37",
          "bytes": 120,
          "ip": "10.0.1.37",
          "packets": 2,
          "port": 48820
        }
      }
    ]
  },
  {
    "name": "v5 outpost sublocation, unknown subnet",
    "input": [
      "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path",
      "5 vpc-0a1b2c3d4e5f60718 subnet-0aa1bb2cc3dd4ee5f i-0b1c2d3e4f5a60789 eni-0f6a7b8c9d0e10008 123456789012 IPv4 10.0.5.20 10.0.2.20 45120 5432 10.0.5.20 10.0.2.20 6 18250 64 1795420200 1795420260 ACCEPT 18 OK us-east-1 use1-az1 outpost op-0a1b2c3d4e5f6a7b8 - - egress 1"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T07:51:00Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795420260,
            "interface_id": "eni-0f6a7b8c9d0e10008",
            "log_status": "OK",
            "pkt_dstaddr": "10.0.2.20",
            "pkt_srcaddr": "10.0.5.20",
            "protocol": 6,
            "start": 1795420200,
            "sublocation_id": "op-0a1b2c3d4e5f6a7b8",
            "sublocation_type": "outpost",
            "subnet_id": "subnet-0aa1bb2cc3dd4ee5f",
            "tcp_flags": 18,
            "tcp_flags_array": [
              "syn",
              "ack"
            ],
            "traffic_path": 1,
            "type": "IPv4",
            "version": 5,
            "vpc_id": "vpc-0a1b2c3d4e5f60718",
            "vpc_name": "prod-core"
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "availability_zone": "use1-az1",
          "instance": {
            "id": "i-0b1c2d3e4f5a60789"
          },
          "provider": "aws",
          "region": "us-east-1"
        },
        "destination": {
          "address": "10.0.2.20",
          "ip": "10.0.2.20",
          "port": 5432
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T07:51:00Z",
          "hash": "487e87a95506f274e5ef84a2f697f6a690a2de5ff521f4806dc09fefb2ae0058",
          "kind": "event",
          "original": "5 vpc-0a1b2c3d4e5f60718 subnet-0aa1bb2cc3dd4ee5f i-0b1c2d3e4f5a60789 eni-0f6a7b8c9d0e10008 123456789012 IPv4 10.0.5.20 10.0.2.20 45120 5432 10.0.5.20 10.0.2.20 6 18250 64 1795420200 1795420260 ACCEPT 18 OK us-east-1 use1-az1 outpost op-0a1b2c3d4e5f6a7b8 - - egress 1",
          "outcome": "success",
          "start": "2026-11-23T07:50:00Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 18250,
          "direction": "egress",
          "iana_number": "6",
          "packets": 64,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "10.0.5.20",
            "10.0.2.20"
          ]
        },
        "source": {
          "address": "10.0.5.20",
          "bytes": 18250,
          "ip": "10.0.5.20",
          "packets": 64,
          "port": 45120
        }
      }
    ]
  },
  {
    "name": "v5 NODATA record",
    "input": [
      "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path",
      "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0123456789abcdef0 eni-0a1b2c3d4e5f60003 123456789012 - - - - - - - - - - 1795420441 1795420500 - - NODATA us-east-1 use1-az1 - - - - - -"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T07:55:00Z",
        "aws": {
          "vpcflow": {
            "end": 1795420500,
            "interface_description": "app-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60003",
            "log_status": "NODATA",
            "start": 1795420441,
            "subnet_id": "subnet-0123456789abcdef0",
            "subnet_name": "prod-core-public-a",
            "version": 5,
            "vpc_id": "vpc-0a1b2c3d4e5f60718",
            "vpc_name": "prod-core"
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "availability_zone": "use1-az1",
          "instance": {
            "id": "i-0123456789abcdef0",
            "name": "app-1"
          },
          "provider": "aws",
          "region": "us-east-1"
        },
        "event": {
          "category": [
            "network"
          ],
          "end": "2026-11-23T07:55:00Z",
          "hash": "897809282512c1013726741345b842f751cff4ae11c984feb899acbd778d89e7",
          "kind": "event",
          "original": "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0123456789abcdef0 eni-0a1b2c3d4e5f60003 123456789012 - - - - - - - - - - 1795420441 1795420500 - - NODATA us-east-1 use1-az1 - - - - - -",
          "start": "2026-11-23T07:54:01Z",
          "type": [
            "connection"
          ]
        },
        "tags": [
          "vpcflow-nodata"
        ]
      }
    ]
  },
  {
    "name": "CloudWatch delivery: no header, v2 default order",
    "input": [
      "2 123456789012 eni-0a1b2c3d4e5f60001 81.2.69.160 10.0.1.10 51514 22 6 130 9877 1795415401 1795415460 ACCEPT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60001 10.0.1.10 81.2.69.160 22 51514 6 122 20431 1795415401 1795415460 ACCEPT OK"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T06:31:00Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795415460,
            "interface_description": "bastion-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60001",
            "log_status": "OK",
            "protocol": 6,
            "start": 1795415401,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "destination": {
          "address": "10.0.1.10",
          "ip": "10.0.1.10",
          "port": 22
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:31:00Z",
          "hash": "0c7bcc730d5b061bea88f6f07a5fd5af8627be1051e63b1a6867ae55382b48aa",
          "kind": "event",
          "original": "2 123456789012 eni-0a1b2c3d4e5f60001 81.2.69.160 10.0.1.10 51514 22 6 130 9877 1795415401 1795415460 ACCEPT OK",
          "outcome": "success",
          "start": "2026-11-23T06:30:01Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 9877,
          "iana_number": "6",
          "packets": 130,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "81.2.69.160",
            "10.0.1.10"
          ]
        },
        "source": {
          "address": "81.2.69.160",
          "bytes": 9877,
          "ip": "81.2.69.160",
          "packets": 130,
          "port": 51514
        }
      },
      {
        "@timestamp": "2026-11-23T06:31:00Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795415460,
            "interface_description": "bastion-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60001",
            "log_status": "OK",
            "protocol": 6,
            "start": 1795415401,
            "version": 2
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "provider": "aws"
        },
        "destination": {
          "address": "81.2.69.160",
          "ip": "81.2.69.160",
          "port": 51514
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T06:31:00Z",
          "hash": "2c1c4b4e56633886aa07445b1aba085458953b89d6a33ebc2fb1f15d0de69114",
          "kind": "event",
          "original": "2 123456789012 eni-0a1b2c3d4e5f60001 10.0.1.10 81.2.69.160 22 51514 6 122 20431 1795415401 1795415460 ACCEPT OK",
          "outcome": "success",
          "start": "2026-11-23T06:30:01Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 20431,
          "iana_number": "6",
          "packets": 122,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "10.0.1.10",
            "81.2.69.160"
          ]
        },
        "source": {
          "address": "10.0.1.10",
          "bytes": 20431,
          "ip": "10.0.1.10",
          "packets": 122,
          "port": 22
        }
      }
    ]
  },
  {
    "name": "a new file's header resets the layout (v5 then v2 without header is an error)",
    "input": [
      "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path",
      "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0def456abc7890123 eni-0a1b2c3d4e5f60002 123456789012 IPv4 89.160.20.156 10.0.1.11 41411 443 89.160.20.156 10.0.1.11 6 4410 12 1795419900 1795419960 ACCEPT 19 OK us-east-1 use1-az1 - - - - ingress -",
      "2 123456789012 eni-0a1b2c3d4e5f60001 81.2.69.160 10.0.1.10 51514 22 6 412 38211 1795414861 1795414920 ACCEPT OK"
    ],
    "expect": [
      {
        "@timestamp": "2026-11-23T07:46:00Z",
        "aws": {
          "vpcflow": {
            "action": "ACCEPT",
            "end": 1795419960,
            "interface_description": "web-1-eth0",
            "interface_id": "eni-0a1b2c3d4e5f60002",
            "log_status": "OK",
            "pkt_dstaddr": "10.0.1.11",
            "pkt_srcaddr": "89.160.20.156",
            "protocol": 6,
            "start": 1795419900,
            "subnet_id": "subnet-0123456789abcdef0",
            "subnet_name": "prod-core-public-a",
            "tcp_flags": 19,
            "tcp_flags_array": [
              "fin",
              "syn",
              "ack"
            ],
            "type": "IPv4",
            "version": 5,
            "vpc_id": "vpc-0a1b2c3d4e5f60718",
            "vpc_name": "prod-core"
          }
        },
        "cloud": {
          "account": {
            "id": "123456789012",
            "name": "security-prod"
          },
          "availability_zone": "use1-az1",
          "instance": {
            "id": "i-0def456abc7890123",
            "name": "web-1"
          },
          "provider": "aws",
          "region": "us-east-1"
        },
        "destination": {
          "address": "10.0.1.11",
          "ip": "10.0.1.11",
          "port": 443
        },
        "event": {
          "action": "accept",
          "category": [
            "network"
          ],
          "end": "2026-11-23T07:46:00Z",
          "hash": "55d51c60f38f7308c0ed2eeed6568bdfc0d3f0cb95b37f5f56ef75415643969b",
          "kind": "event",
          "original": "5 vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0def456abc7890123 eni-0a1b2c3d4e5f60002 123456789012 IPv4 89.160.20.156 10.0.1.11 41411 443 89.160.20.156 10.0.1.11 6 4410 12 1795419900 1795419960 ACCEPT 19 OK us-east-1 use1-az1 - - - - ingress -",
          "outcome": "success",
          "start": "2026-11-23T07:45:00Z",
          "type": [
            "connection",
            "allowed"
          ]
        },
        "network": {
          "bytes": 4410,
          "direction": "ingress",
          "iana_number": "6",
          "packets": 12,
          "transport": "tcp",
          "type": "ipv4"
        },
        "related": {
          "ip": [
            "89.160.20.156",
            "10.0.1.11"
          ]
        },
        "source": {
          "address": "89.160.20.156",
          "bytes": 4410,
          "ip": "89.160.20.156",
          "packets": 12,
          "port": 41411
        }
      }
    ],
    "errors": 1
  },
  {
    "name": "all 24 malformed records (blank ones too, which the file reader would skip) go to the error route with a reason",
    "input": [
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 6 1 60 1795415220 1795415280 REJECT",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 6 1 60 1795415220 1795415280 REJECT OK OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 ssh 6 1 60 1795415220 1795415280 REJECT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 70000 6 1 60 1795415220 1795415280 REJECT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 tcp 1 60 1795415220 1795415280 REJECT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41321 22 6 1 60 1795415280 1795415220 REJECT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.0.999 41320 22 6 1 60 1795415220 1795415280 REJECT OK",
      "",
      "      ",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 6 1 60 1795415220 1795415280 MAYBE OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 6 1 -512 1795415220 1795415280 REJECT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.",
      "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path",
      "2\t123456789012\teni-0a1b2c3d4e5f60002\t89.160.20.156\t10.0.1.11\t41320 22 6 1 60 1795415220 1795415280 REJECT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 6 1 60 1795415220 1795415280 REJECT BROKEN",
      "two 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 6 1 60 1795415220 1795415280 REJECT OK",
      "2 12345678901 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 6 1 60 1795415220 1795415280 REJECT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 6 1 60 2026-11-23T06:27:00Z 1795415280 REJECT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 6 18446744073709551616 60 1795415220 1795415280 REJECT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41320 22 256 1 60 1795415220 1795415280 REJECT OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 2001:db8:1234:1a00::g1 2001:db8:1234:1a00::11 53700 443 6 3 180 1795415220 1795415280 ACCEPT OK",
      "2,123456789012,eni-0a1b2c3d4e5f60002,89.160.20.156,10.0.1.11,41320,22,6,1,60,1795415220,1795415280,REJECT,OK",
      "2 123456789012 eni-0a1b2c3d4e5f60002 89.160.20.156 10.0.1.11 41322  22  6 1 60 1795415220 1795415280 REJECT OK",
      "{\"version\":2,\"account-id\":\"123456789012\",\"interface-id\":\"eni-0a1b2c3d4e5f60002\",\"srcaddr\":\"89.160.20.156\",\"dstaddr\":\"10.0.1.11\",\"action\":\"REJECT\",\"log-status\":\"OK\"}"
    ],
    "expect": [],
    "errors": 24
  }
]
