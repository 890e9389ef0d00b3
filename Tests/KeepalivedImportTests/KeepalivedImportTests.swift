// hcctl import keepalived: keepalived.conf's syntax, a three-board house merged into one document that hcagent
// accepts, and a warning for each thing that does not carry over.
import Testing
import HomecloudSchema
import HomecloudYAML
import KeepalivedImport

private func board(_ node: String, priority: Int, state: String) -> String {
    """
    ! Configuration File for keepalived
    global_defs {
       router_id \(node)
    }

    vrrp_script chk_k3s {
        script "/usr/bin/curl -sfk https://127.0.0.1:6443/healthz"   # the API answers
        interval 2
        timeout 1
        fall 3
        rise 2
        weight -60
    }

    vrrp_instance VI_front
    {
        state \(state)
        interface eth0
        virtual_router_id 51
        priority \(priority)
        advert_int 0.1
        preempt_delay 10
        authentication {
            auth_type PASS
            auth_pass secret
        }
        virtual_ipaddress {
            192.168.1.250/24 dev eth0 label eth0:vip
            192.168.1.251/24
        }
        track_script {
            chk_k3s
        }
        notify_master "/usr/local/bin/vip-up front"
    }

    vrrp_sync_group VG { group { VI_front VI_back } }

    """
}

@Suite struct KeepalivedImportTests {
    @Test func theSyntaxReadsBlocksQuotesAndComments() throws {
        let statements = try KeepalivedConfig.parse("a 1 \"two words\" # comment\nb {\n  c { d e }\n}\n! bang\nf\n{ g }\n")
        #expect(statements.map(\.keyword) == ["a", "b", "f"])
        #expect(statements[0].arguments == ["1", "two words"])
        #expect(statements[1].block?.first?.block?.first?.words == ["d", "e"])
        #expect(statements[2].block?.first?.keyword == "g")
    }

    @Test func unbalancedBracesAndQuotesSayWhere() {
        #expect(throws: KeepalivedConfig.SyntaxError(line: 2, message: "a } closes no block")) { try KeepalivedConfig.parse("a\n}\n") }
        #expect(throws: KeepalivedConfig.SyntaxError.self) { try KeepalivedConfig.parse("a {\n b\n") }
        #expect(throws: KeepalivedConfig.SyntaxError(line: 1, message: "a quoted word does not end on its line")) { try KeepalivedConfig.parse("a \"b\nc\"") }
    }

    @Test func threeBoardsBecomeOneDocumentHcagentAccepts() throws {
        let result = try KeepalivedImport.convert([
            .init(node: "n1", file: "n1.conf", text: board("n1", priority: 150, state: "MASTER")),
            .init(node: "n2", file: "n2.conf", text: board("n2", priority: 120, state: "BACKUP")),
            .init(node: "n3", file: "n3.conf", text: board("n3", priority: 100, state: "BACKUP")),
        ])
        #expect(result.yaml.contains("priority: { default: 100, n1: 150, n2: 120, n3: 100 }"))
        #expect(result.yaml.contains("advert: 100ms"))
        #expect(result.yaml.contains("preempt_delay: 10s"))
        #expect(result.yaml.contains("chk_k3s: { exec: \"/usr/bin/curl -sfk https://127.0.0.1:6443/healthz\", interval: 2s, timeout: 1s, rise: 2, fall: 3, weight: -60 }"))
        let document = "generation: 1\ncluster: house\nnodes: { n1: [], n2: [], n3: [] }\n" + result.yaml
        let parsed = try DesiredStateParser.parse(document, file: "imported.yaml").get()
        let front = try #require(parsed.vip(named: "VI_front"))
        #expect(front.address.description == "192.168.1.250/24")
        #expect(front.addresses.map(\.description) == ["192.168.1.250/24", "192.168.1.251/24"])
        #expect(front.group == "VG")
        #expect(result.yaml.contains("    address: [\"192.168.1.250/24\", \"192.168.1.251/24\"]\n    group: VG\n"))
        #expect(front.vrid == 51)
        #expect(front.advert == .milliseconds(100))
        #expect(parsed.probes.map(\.name) == ["chk_k3s"])
        #expect(front.notify?.master == ["/usr/local/bin/vip-up", "front"])
    }

    @Test func whatDoesNotCarryOverIsWarnedOfWithItsLine() throws {
        let result = try KeepalivedImport.convert([.init(node: nil, file: "k.conf", text: board("n1", priority: 150, state: "MASTER"))])
        let text = result.warnings.map(\.description)
        #expect(text.contains { $0.hasPrefix("k.conf:23:") && $0.contains("authentication") })
        // A second address and a sync group carry over: no warning for them, only for the member no file defines.
        #expect(!text.contains { $0.contains("192.168.1.251") })
        #expect(text.contains { $0.hasPrefix("k.conf:37:") && $0.contains("vrrp_sync_group VG names VI_back, which no vrrp_instance") })
        #expect(!text.contains { $0.contains("VI_front,") || $0.contains("elects each VIP on its own") })
        // One board alone: its priority is the default.
        #expect(result.yaml.contains("    priority: 150\n"))
    }

    @Test func scriptWeightsAndTimesFollowHcagentsMeaning() throws {
        let text = """
            vrrp_script up { script "true"
              weight 20 }
            vrrp_script bare { script "/bin/check" }
            vrrp_instance V { interface eth1
              virtual_router_id 7
              advert_int 0.005
              nopreempt
              virtual_ipaddress { 10.0.0.9 }
              unicast_peer { 10.0.0.2 10.0.0.3 }
              track_script { up
                bare } }
            """
        let result = try KeepalivedImport.convert([.init(node: nil, file: "k.conf", text: text)])
        #expect(result.yaml.contains("up: { exec: \"true\", weight: -20 }"))
        #expect(result.yaml.contains("bare: { exec: \"/bin/check\", weight: -254 }"))
        #expect(result.yaml.contains("address: \"10.0.0.9/32\""))
        #expect(result.yaml.contains("preempt: false"))
        #expect(result.yaml.contains("unicast: [\"10.0.0.2\", \"10.0.0.3\"]"))
        #expect(!result.yaml.contains("advert:"))
        let warnings = result.warnings.map(\.message)
        #expect(warnings.contains { $0.contains("weight 20 adds to the priority") })
        #expect(warnings.contains { $0.contains("advert_int 0.005") })
        let document = "generation: 1\ncluster: c\nnodes: { a: [] }\n" + result.yaml
        _ = try DesiredStateParser.parse(document, file: "imported.yaml").get()
    }

    @Test func aSyncGroupBecomesTheGroupOfEachOfItsVIPs() throws {
        let text = """
            vrrp_sync_group G1 {
              group {
                VI_lan
                VI_wan
              }
              notify_master "/usr/local/bin/router-up"
            }
            vrrp_instance VI_lan { interface eth0
              virtual_router_id 10
              virtual_ipaddress { 10.0.0.1/24
                10.0.0.2/24 } }
            vrrp_instance VI_wan { interface eth1
              virtual_router_id 11
              virtual_ipaddress { 192.0.2.1/24 } }
            vrrp_instance VI_alone { interface eth0
              virtual_router_id 12
              virtual_ipaddress { 10.0.0.3/24 } }
            """
        let result = try KeepalivedImport.convert([.init(node: nil, file: "k.conf", text: text)])
        let document = "generation: 1\ncluster: c\nnodes: { a: [] }\n" + result.yaml
        let parsed = try DesiredStateParser.parse(document, file: "imported.yaml").get()
        #expect(parsed.vips.map(\.group) == ["G1", "G1", nil])
        #expect(parsed.vip(named: "VI_lan")?.addresses.map(\.description) == ["10.0.0.1/24", "10.0.0.2/24"])
        let warnings = result.warnings.map(\.description)
        #expect(warnings == ["k.conf:6: notify_master of vrrp_sync_group G1: hcagent runs notify commands per VIP; put it on one of the group's VIPs (notify:)"])
    }

    @Test func addressesOfTheOtherFamilyOrTwiceAreLeftOutWithAWarning() throws {
        let text = """
            vrrp_instance V { interface eth0
              virtual_router_id 7
              virtual_ipaddress {
                10.0.0.9/24
                fd00::9/64
                10.0.0.9/24
                10.0.0.10/24
              } }
            """
        let result = try KeepalivedImport.convert([.init(node: nil, file: "k.conf", text: text)])
        #expect(result.yaml.contains("address: [\"10.0.0.9/24\", \"10.0.0.10/24\"]"))
        let warnings = result.warnings.map(\.description)
        #expect(warnings.contains { $0.hasPrefix("k.conf:5:") && $0.contains("fd00::9/64: not of the family") })
        #expect(warnings.contains { $0.hasPrefix("k.conf:6:") && $0.contains("listed twice") })
        let document = "generation: 1\ncluster: c\nnodes: { a: [] }\n" + result.yaml
        _ = try DesiredStateParser.parse(document, file: "imported.yaml").get()
    }

    @Test func filesWithoutAnInstanceImportNothing() {
        #expect(throws: KeepalivedImport.Failure.self) { try KeepalivedImport.convert([.init(node: nil, file: "k.conf", text: "global_defs { router_id x }\n")]) }
    }
}
