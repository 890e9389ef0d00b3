// Golden texts that pin the control protocol's wire: `hcctl status --json` (and plan --json) print these keys in this
// layout, exactly what hcctl printed through Foundation's JSONEncoder before the protocol had one definition, and
// a status line written by that era's agent still reads. Scripts (Tests/integration) read these keys.
import Testing
@testable import HomecloudSchema

@Suite struct StatusJSONGoldenTests {
    typealias F = ControlProtocolFixtures

    @Test func aFullStatusPrintsAsHcctlPrintedIt() {
        #expect(F.status.json.pretty == Self.fullStatus)
    }

    @Test func anEmptyStatusKeepsItsKeys() {
        #expect(F.emptyStatus.json.pretty == Self.emptyStatus)
    }

    /// hcctl drain's fields (issue 16): added beside the others, absent when nil, so the goldens above stand.
    @Test func aDrainedBoardsFieldsPrintAndReadBack() throws {
        var status = F.emptyStatus
        status.drained = true
        var member = MemberStatus(name: "n2", address: "10.0.0.2:7964", state: "alive")
        member.drained = true
        status.members = [member]
        var vip = VIPStatus(name: "front", address: "10.0.0.250/24", state: "backup", holder: "10.0.0.3", priority: 1)
        vip.priorityReason = "drained: priority 1, master only as the last live board"
        status.vips = [vip]
        #expect(status.json.pretty == Self.drainedStatus)
        #expect(try StatusReport(json: JSONValue.parse(Array(Self.drainedStatus.utf8))) == status)
        // An agent before drain sends none of them: nil, not false.
        let before = F.statusBeforeDrain
        #expect(before.drained == nil && before.members.allSatisfy { $0.drained == nil } && before.vips.allSatisfy { $0.priorityReason == nil })
    }

    static let drainedStatus = #"""
{
  "desired" : {
    "file" : "f",
    "generation" : null,
    "rejected" : [

    ]
  },
  "drained" : true,
  "members" : [
    {
      "address" : "10.0.0.2:7964",
      "drained" : true,
      "name" : "n2",
      "state" : "alive"
    }
  ],
  "node" : "n",
  "probes" : [

  ],
  "problems" : [

  ],
  "units" : [

  ],
  "version" : "0",
  "vips" : [
    {
      "address" : "10.0.0.250/24",
      "holder" : "10.0.0.3",
      "name" : "front",
      "priority" : 1,
      "priorityReason" : "drained: priority 1, master only as the last live board",
      "state" : "backup"
    }
  ]
}
"""#

    @Test func plansPrintAsHcctlPrintedThem() {
        #expect(F.plan.json.pretty == Self.fullPlan)
        #expect(PlanReport(generation: 1, nodes: [], node: "n", steps: nil).json.pretty == Self.emptyPlan)
    }

    @Test func aReplyFromTheAgentBeforeThisDefinitionReads() throws {
        // Its writer sent null for an absent cluster, convergence, probe result, refused generation and plan steps.
        // Nor a headline (hcctl makes one from the rest).
        let line = Self.oldAgentLine
        // It knew no managed files, no headline and no drain: its status reads with those nil.
        #expect(try ControlReply(json: JSONValue.parse(Array(line.utf8))) == .success(id: 4, status: F.statusBeforeDrain))
        let empty = #"{"v":1,"id":5,"ok":true,"status":{"node":"n","cluster":null,"version":"0","desired":{"generation":null,"file":"f","rejected":[]},"members":[],"vips":[],"units":[],"convergence":null,"probes":[],"problems":[]}}"#
        #expect(try ControlReply(json: JSONValue.parse(Array(empty.utf8))) == .success(id: 5, status: F.emptyStatus))
    }

    static let oldAgentLine = #"{"v":1,"id":4,"ok":true,"status":{"node":"n1","cluster":"hc1","version":"0.4.0","desired":{"generation":7,"file":"/etc/homecloud/desired.yaml","rejected":[{"file":"d.yaml","line":2,"column":5,"path":"roles.x","message":"bad \"thing\"\tand\\ a tab"},{"file":"d.yaml","path":"","message":"older"}],"signedBy":"admin-1a2b","trustedKeys":["admin-1a2b","admin-ffff"],"policy":"3 unit globs, 1 exec rule, 0 path globs","refused":[{"reason":"signature","generation":9,"source":"gossip from n3","messages":[{"file":"d.yaml","line":2,"column":5,"path":"roles.x","message":"bad \"thing\"\tand\\ a tab"},{"file":"d.yaml","path":"","message":"older"}]},{"reason":"invalid","generation":null,"source":"apply","messages":[]}]},"members":[{"name":"n2","address":"10.0.0.2:7964","state":"suspect","incarnation":18446744073709551615,"since":1764000000,"roles":["nas","edge"],"version":"0.4.0","generation":7,"convergence":"converging","probes":3,"failingProbes":["web","dns"],"vips":["front"],"identity":"refused (a forged signature)"},{"name":"n1","address":"10.0.0.1:7964","state":"alive"}],"vips":[{"name":"front","address":"fd00::1/64","state":"master","holder":"n1","priority":254,"since":1764000001,"reason":"handover from n3"},{"name":"back","address":"10.0.0.250/24","state":"backup","holder":null}],"units":[{"name":"k3s.service","desired":"running","active":"failed","state":"degraded","reason":"failed 5 times"},{"name":"smbd.service","desired":"running","active":"unknown"}],"convergence":"degraded","probes":[{"name":"web","state":"failing","last":"connect: refused","latencyMs":12,"passes":40,"failures":3,"since":1764000002},{"name":"dns","state":"unknown","last":null,"passes":0,"failures":0,"since":0}],"problems":[{"part":"vrrp","reason":"no CAP_NET_ADMIN: VIPs are off"},{"part":"state_dir","reason":"read-only"}]}}"#

    static let fullStatus = #"""
{
  "cluster" : "hc1",
  "convergence" : "degraded",
  "desired" : {
    "file" : "/etc/homecloud/desired.yaml",
    "generation" : 7,
    "policy" : "3 unit globs, 1 exec rule, 0 path globs",
    "refused" : [
      {
        "generation" : 9,
        "messages" : [
          {
            "column" : 5,
            "file" : "d.yaml",
            "line" : 2,
            "message" : "bad \"thing\"\tand\\ a tab",
            "path" : "roles.x"
          },
          {
            "file" : "d.yaml",
            "message" : "older",
            "path" : ""
          }
        ],
        "reason" : "signature",
        "source" : "gossip from n3"
      },
      {
        "messages" : [

        ],
        "reason" : "invalid",
        "source" : "apply"
      }
    ],
    "rejected" : [
      {
        "column" : 5,
        "file" : "d.yaml",
        "line" : 2,
        "message" : "bad \"thing\"\tand\\ a tab",
        "path" : "roles.x"
      },
      {
        "file" : "d.yaml",
        "message" : "older",
        "path" : ""
      }
    ],
    "signedBy" : "admin-1a2b",
    "trustedKeys" : [
      "admin-1a2b",
      "admin-ffff"
    ]
  },
  "drained" : true,
  "facts" : [
    {
      "age" : 12,
      "name" : "syncthing-id",
      "node" : "n1",
      "reason" : "not a certificate: no PEM block; publishing its last value",
      "since" : 1764000004,
      "state" : "known",
      "value" : "MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGG2HE-FTMMJLI-OYL4CMV-GZ7IQ7T"
    },
    {
      "name" : "syncthing-id",
      "node" : "n2",
      "reason" : "not published by n2 yet",
      "state" : "waiting"
    }
  ],
  "files" : [
    {
      "path" : "/etc/samba/smb.conf",
      "reason" : "validate refused the new content, the old file stays: testparm exited with 1",
      "role" : "dnas",
      "state" : "degraded",
      "writes" : 2
    }
  ],
  "headline" : "attention: vrrp: no CAP_NET_ADMIN: VIPs are off (and 1 more part) — hcctl status",
  "members" : [
    {
      "address" : "10.0.0.2:7964",
      "convergence" : "converging",
      "drained" : true,
      "failingProbes" : [
        "web",
        "dns"
      ],
      "generation" : 7,
      "identity" : "refused (a forged signature)",
      "incarnation" : 18446744073709551615,
      "name" : "n2",
      "probes" : 3,
      "roles" : [
        "nas",
        "edge"
      ],
      "since" : 1764000000,
      "state" : "suspect",
      "version" : "0.4.0",
      "vips" : [
        "front"
      ]
    },
    {
      "address" : "10.0.0.1:7964",
      "name" : "n1",
      "state" : "alive"
    }
  ],
  "node" : "n1",
  "probes" : [
    {
      "failures" : 3,
      "last" : "connect: refused",
      "latencyMs" : 12,
      "name" : "web",
      "passes" : 40,
      "since" : 1764000002,
      "state" : "failing"
    },
    {
      "failures" : 0,
      "name" : "dns",
      "passes" : 0,
      "since" : 0,
      "state" : "unknown"
    }
  ],
  "problems" : [
    {
      "part" : "vrrp",
      "reason" : "no CAP_NET_ADMIN: VIPs are off"
    },
    {
      "part" : "state_dir",
      "reason" : "read-only"
    }
  ],
  "restart" : {
    "boards" : [
      "n2"
    ],
    "done" : 1,
    "id" : "n1-abc",
    "role" : "coordinating",
    "rolling" : true,
    "target" : "server",
    "total" : 3,
    "units" : [
      "k3s.service"
    ]
  },
  "secrets" : [
    {
      "age" : 60,
      "fingerprint" : "0123456789abcdef",
      "from" : "n3",
      "madeAt" : 1764000003,
      "name" : "k3s-token",
      "reason" : "waiting for /var/lib/rancher/k3s/server/node-token to appear",
      "state" : "held"
    }
  ],
  "units" : [
    {
      "active" : "failed",
      "desired" : "running",
      "name" : "k3s.service",
      "reason" : "failed 5 times",
      "state" : "degraded"
    },
    {
      "active" : "unknown",
      "desired" : "running",
      "name" : "smbd.service"
    }
  ],
  "version" : "0.4.0",
  "vips" : [
    {
      "address" : "fd00::1/64",
      "addresses" : [
        "fd00::1/64",
        "fd00::2/64"
      ],
      "group" : "edge",
      "holder" : "n1",
      "name" : "front",
      "priority" : 254,
      "priorityReason" : "drained: priority 1, master only as the last live board",
      "reason" : "handover from n3",
      "since" : 1764000001,
      "state" : "master"
    },
    {
      "address" : "10.0.0.250/24",
      "holder" : null,
      "name" : "back",
      "state" : "backup"
    }
  ]
}
"""#

    static let emptyStatus = #"""
{
  "desired" : {
    "file" : "f",
    "generation" : null,
    "rejected" : [

    ]
  },
  "members" : [

  ],
  "node" : "n",
  "probes" : [

  ],
  "problems" : [

  ],
  "units" : [

  ],
  "version" : "0",
  "vips" : [

  ]
}
"""#

    static let fullPlan = #"""
{
  "generation" : 8,
  "node" : "n1",
  "nodes" : [
    {
      "changes" : [
        "+ smbd.service running, placement vip:front",
        "- k3s.service"
      ],
      "node" : "n1"
    },
    {
      "changes" : [

      ],
      "node" : "n2"
    }
  ],
  "refusals" : [
    {
      "column" : 5,
      "file" : "d.yaml",
      "line" : 2,
      "message" : "bad \"thing\"\tand\\ a tab",
      "path" : "roles.x"
    },
    {
      "file" : "d.yaml",
      "message" : "older",
      "path" : ""
    }
  ],
  "steps" : [
    "start smbd.service"
  ],
  "warnings" : [
    "n2 runs hcagent 0.1.0, older than the 0.2.0 this document requires"
  ]
}
"""#

    static let emptyPlan = #"""
{
  "generation" : 1,
  "node" : "n",
  "nodes" : [

  ]
}
"""#
}
