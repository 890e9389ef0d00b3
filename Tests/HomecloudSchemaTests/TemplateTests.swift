// The template syntax: facts, loops, lines taken by statements, and positioned errors.
import Testing
import HomecloudSchema

@Suite struct TemplateTests {
    @Test func factsAndLoopsParse() throws {
        let template = try Template.parse("a {{ node }} b {{vips.front.ip}}\n{% for n in roles.web.nodes %}{{ n.name }}={{ n.address }}\n{% endfor %}").get()
        #expect(template.pieces == [
            .text("a "), .fact(.node, at: .init(line: 1, column: 3)), .text(" b "), .fact(.vipIP("front"), at: .init(line: 1, column: 16)),
            .text("\n"),
            .loop(variable: "n", role: "web", body: [
                .fact(.loopName(variable: "n"), at: .init(line: 2, column: 31)), .text("="),
                .fact(.loopAddress(variable: "n"), at: .init(line: 2, column: 44)), .text("\n"),
            ], at: .init(line: 2, column: 1)),
        ])
    }

    @Test func aStatementAloneOnItsLineTakesTheLine() throws {
        let template = try Template.parse("x\n  {% for n in roles.r.nodes %}\n{{ n.name }}\n  {% endfor %}\ny\n").get()
        guard case .loop(_, _, let body, _, _) = template.pieces[1] else { Issue.record("no loop"); return }
        #expect(template.pieces.first == .text("x\n"))
        #expect(body == [.fact(.loopName(variable: "n"), at: .init(line: 3, column: 1)), .text("\n")])
        #expect(template.pieces.last == .text("y\n"))
    }

    @Test(arguments: [
        ("{{ node", "1:1", "not closed"),
        ("ab\n  {% endfor %}", "2:3", "without a {% for %}"),
        ("{% for n in roles.r.nodes %}", "1:1", "has no {% endfor %}"),
        ("{{ n.name }}", "1:1", "unknown name \"n.name\""),
        ("{% for node in roles.r.nodes %}{% endfor %}", "1:1", "cannot name a loop variable"),
        ("{% for n in vips %}{% endfor %}", "1:1", "roles.ROLE.nodes"),
        ("{% for n in roles.r.nodes %}{{ n.ip }}{% endfor %}", "1:29", "has .name and .address"),
        ("x {% if a %}", "1:3", "unknown statement"),
        ("{{ node | upper }}", "1:1", "is not a name"),
        ("{{ }}", "1:1", "names nothing"),
    ])
    func errorsArePositioned(text: String, position: String, message: String) {
        guard case .failure(let error) = Template.parse(text) else { Issue.record("\(text) parsed"); return }
        #expect(error.position.description == position)
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test func secretsAreNoticed() throws {
        #expect(try Template.parse("t={{ secrets.k3s-token }}").get().usesSecret)
        #expect(try !Template.parse("t={{ node }}").get().usesSecret)
    }
}
