//! Routing rules: the condition language (parse, check, evaluate), classification, route-to-queue and splits.

use std::collections::BTreeMap;

use serde_json::json;
use switchboard_domain::{
    Code,
    context::VariableKind,
    ids::{ConversationId, QueueId},
    routing::rules::{
        ClassificationRuleset, ClassificationRulesetSpec, Condition, Expr, Facts, Path, RouteToQueue, RouteToQueueSpec,
        Schema, Skill, Value, WorkstreamRules, WorkstreamRulesSpec, split_bucket,
    },
};

/// The reference's kind of condition, as in the module documentation.
const EXAMPLE: &str = concat!(
    r#"channel == "sms" and context.Product in ["Xbox", "Surface"]"#,
    r#" and not (contact.email ends_with "@contoso.com") or context.Amount >= 500"#
);

fn schema() -> Schema {
    Schema::default()
        .with_context("Product", VariableKind::Text)
        .with_context("Amount", VariableKind::Number)
        .with_context("Order Id", VariableKind::Text)
        .with_context("Tier", VariableKind::Text)
        .with_contact_field("segment", VariableKind::Text)
}

fn canonical(source: &str) -> String {
    Expr::parse(source).unwrap_or_else(|e| panic!("{source}: {e}")).to_string()
}

fn parse_error(source: &str) -> (usize, String) {
    let e = Expr::parse(source).unwrap_err();
    (e.column, e.message)
}

fn check_error(source: &str) -> (usize, String) {
    let e = Condition::new(source, &schema()).unwrap_err();
    (e.column, e.message)
}

fn facts() -> Facts {
    Facts {
        channel: Some("sms".into()),
        language: Some("en-US".into()),
        workstream: Some("Support".into()),
        context: BTreeMap::from([("Product".into(), "XBox".into()), ("Amount".into(), Value::Number(120.0))]),
        contact: BTreeMap::from([("email".into(), "ana@Contoso.com".into()), ("segment".into(), "retail".into())]),
        ..Facts::default()
    }
}

fn eval(source: &str, facts: &Facts) -> bool {
    Condition::new(source, &schema()).unwrap_or_else(|e| panic!("{source}: {e}")).matches(facts)
}

#[test]
fn precedence_is_not_then_and_then_or() {
    assert_eq!(canonical("true or false and false"), "(true or (false and false))");
    assert_eq!(canonical("false and true or true"), "((false and true) or true)");
    assert_eq!(canonical("not true and false"), "(not (true) and false)");
    assert_eq!(canonical("not not true"), "not (not (true))");
    assert_eq!(canonical("(true or false) and false"), "((true or false) and false)");
    assert_eq!(canonical("not (true or false)"), "not (true or false)");
    assert!(parse_error("notable == 1").1.contains("unknown name `notable`"), "keywords are whole words");
    // A comparison binds tighter than `not`.
    assert_eq!(canonical("not channel == 'sms'"), r#"not (channel == "sms")"#);
    assert_eq!(
        canonical(EXAMPLE),
        concat!(
            r#"(((channel == "sms" and context.Product in ["Xbox", "Surface"])"#,
            r#" and not (contact.email ends_with "@contoso.com")) or context.Amount >= 500)"#
        )
    );
    // Keywords ignore case; or-chains associate to the left.
    assert_eq!(canonical("TRUE Or false OR true"), "((true or false) or true)");
    // The canonical form parses back to itself.
    let c = canonical(r#"not (context."Order Id" starts_with 'A-\'1' and conversation.priority > -2.5e1)"#);
    assert_eq!(canonical(&c), c);
}

#[test]
fn every_operator_and_literal_parses() {
    for (source, shown) in [
        ("channel == 'sms'", r#"channel == "sms""#),
        ("channel != 'sms'", r#"channel != "sms""#),
        ("context.Amount < 1", "context.Amount < 1"),
        ("context.Amount <= 1.5", "context.Amount <= 1.5"),
        ("context.Amount > -1", "context.Amount > -1"),
        ("context.Amount >= 1e3", "context.Amount >= 1000"),
        ("language in ['en', 'fr',]", r#"language in ["en", "fr"]"#),
        ("context.Amount in []", "context.Amount in []"),
        ("contact.email contains '@'", r#"contact.email contains "@""#),
        ("contact.phone starts_with '+1'", r#"contact.phone starts_with "+1""#),
        ("contact.email ends_with '.com'", r#"contact.email ends_with ".com""#),
        ("context.Tier exists", "context.Tier exists"),
        ("'billing' in conversation.skills", r#""billing" in conversation.skills"#),
        ("conversation.skills contains 'billing'", r#"conversation.skills contains "billing""#),
        ("conversation.severity == 2", "conversation.severity == 2"),
        ("CHANNEL == 'sms'", r#"channel == "sms""#),
        ("contact.EMAIL exists", "contact.email exists"),
        ("context.'Order Id' exists", r#"context."Order Id" exists"#),
        ("workstream == \"Support\"", r#"workstream == "Support""#),
        ("true", "true"),
        ("false == false", "false == false"),
    ] {
        assert_eq!(canonical(source), shown, "{source}");
    }
}

#[test]
fn string_escapes() {
    let parsed = Expr::parse(r#"channel == "a\"b\\c\n\t\r\u{e9}\u{1F600}'""#).unwrap();
    match parsed {
        Expr::Compare(c) => match &c.right.kind {
            switchboard_domain::routing::rules::OperandKind::Text(s) => assert_eq!(s, "a\"b\\c\n\t\ré😀'"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(canonical(r"channel == 'it\'s'"), r#"channel == "it's""#);
    assert_eq!(parse_error(r#"channel == "a\qb""#).0, 14);
    assert!(parse_error(r#"channel == "a\qb""#).1.contains("unknown escape `\\q`"));
    assert_eq!(parse_error(r#"channel == "\u{110000}""#).0, 13);
    assert_eq!(parse_error(r#"channel == "\u{}""#).0, 13);
}

#[test]
fn parse_errors_name_the_column_and_what_was_expected() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "the condition is empty"),
        ("   ", 1, "the condition is empty"),
        ("channel = 'sms'", 9, "compare with `==`"),
        ("channel == 'sms' && true", 18, "use `and`"),
        ("!true", 1, "negate with `not`"),
        ("channel ==", 11, "expected a value"),
        ("channel == 'sms", 12, "no closing '"),
        ("channel", 8, "expected an operator after `channel`"),
        ("context.Amount 5", 16, "expected an operator after `context.Amount`"),
        ("'sms'", 6, "expected an operator after \"sms\""),
        ("(channel == 'sms'", 18, "to close the `(` at column 1"),
        ("channel == 'sms')", 17, "expected `and`, `or` or the end of the condition, found `)`"),
        ("channel == 'sms' channel", 18, "found `channel`"),
        ("chanel == 'sms'", 1, "unknown name `chanel`"),
        ("channel.type == 'sms'", 8, "`channel` has no fields"),
        ("context == 1", 9, "expected `.` and a field name after `context`"),
        ("context. == 1", 10, "expected a name after `context.`"),
        ("context.A.B == 1", 10, "`context.A` has no fields"),
        ("conversation.queue == 'x'", 14, "unknown field `conversation.queue`"),
        ("context.X in ['a', context.Y]", 20, "a list holds only text, numbers, true or false"),
        ("context.X in ['a' 'b']", 19, "expected `,` or `]`"),
        ("context.X in ['a',", 19, "expected `]` to close the `[` at column 14"),
        ("channel == and", 12, "found the keyword `and`"),
        ("'x' exists", 5, "`exists` follows a path"),
        ("context.Amount > 12abc", 18, "must not run into letters"),
        ("context.Amount > -x", 18, "expected a number after `-`"),
        ("channel == 'sms' and", 21, "expected a value"),
        ("channel == 'sms' # note", 18, "unexpected character `#`"),
        ("context.Amount > 1e999", 18, "not a number"),
    ];
    for (source, column, expected) in cases {
        let (got_column, message) = parse_error(source);
        assert_eq!(got_column, *column, "{source}: {message}");
        assert!(message.contains(expected), "{source}: {message}");
    }
    // Columns count characters, not bytes.
    assert_eq!(parse_error("context.Größe = 1").0, 15);

    let deep = format!("{}true{}", "(".repeat(100), ")".repeat(100));
    assert!(parse_error(&deep).1.contains("nests deeper"));
    let nots = format!("{}true", "not ".repeat(100));
    assert!(parse_error(&nots).1.contains("nests deeper"));
    assert!(Expr::parse(&format!("{}true{}", "(".repeat(60), ")".repeat(60))).is_ok());
    assert!(parse_error(&"x".repeat(5_000)).1.contains("at most 4000 characters"));
}

#[test]
fn checks_names_and_types_against_the_schema() {
    let cases: &[(&str, usize, &str)] = &[
        ("context.Amout > 1", 1, "unknown context variable `Amout`; known: `Amount`, `Order Id`, `Product`, `Tier`"),
        ("context.amount > 1", 1, "did you mean `Amount`?"),
        ("contact.loyalty == 'gold'", 1, "unknown contact field `loyalty`"),
        ("context.Amount == 'x'", 16, "`context.Amount` is a number and \"x\" is text"),
        ("channel < 'sms'", 9, "`<` compares numbers, but `channel` is text"),
        ("context.Amount >= context.Product", 16, "compares numbers"),
        ("context.Product == 1", 17, "compares two values of one type"),
        ("context.Amount in ['a', 'b']", 16, "`in` tests a value against a list of the same type"),
        ("context.Product in ['a', 2]", 26, "a list holds values of one type, but \"a\" is text and 2 is a number"),
        ("context.Product == ['a']", 17, "use `in`"),
        ("conversation.skills == 'billing'", 21, "conversation.skills contains"),
        ("context.Amount contains '1'", 16, "looks for text"),
        ("context.Amount starts_with '1'", 16, "compares text with text"),
        ("channel == 'sms' and context.Nope exists", 22, "unknown context variable `Nope`"),
        ("1 in conversation.skills", 3, "`in` tests"),
    ];
    for (source, column, expected) in cases {
        let (got_column, message) = check_error(source);
        assert_eq!(got_column, *column, "{source}: {message}");
        assert!(message.contains(expected), "{source}: {message}");
    }
    assert!(Condition::new("context.A == 1", &Schema::default()).unwrap_err().message.contains("none are declared"));
    // What does check.
    for ok in [
        "context.Amount == 1 and context.'Order Id' == 'x'",
        "contact.segment == 'retail' and contact.customer_id exists",
        "conversation.priority >= 2 and context.Amount in [1, 2]",
        "context.Product in []",
        "context.Amount == context.Amount",
    ] {
        Condition::new(ok, &schema()).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn evaluation() {
    let f = facts();
    // Text comparisons ignore case.
    assert!(eval("channel == 'SMS'", &f));
    assert!(eval("context.Product in ['Xbox', 'Surface']", &f));
    assert!(!eval("context.Product in ['Surface']", &f));
    assert!(eval("contact.email ends_with '@contoso.com'", &f));
    assert!(eval("contact.email starts_with 'ANA'", &f));
    assert!(eval("contact.email contains 'CONTOSO'", &f));
    assert!(eval("language != 'fr-FR'", &f));
    assert!(eval("context.Amount >= 120 and context.Amount <= 120 and context.Amount > 119.5", &f));
    assert!(!eval("context.Amount < 120", &f));
    assert!(eval("context.Amount in [1, 120]", &f));
    assert!(eval("workstream == 'support' and contact.segment == 'Retail'", &f));
    assert!(!eval(EXAMPLE, &f), "a Contoso customer with a small amount");
    let mut big = f.clone();
    big.context.insert("Amount".into(), Value::Number(500.0));
    assert!(eval(EXAMPLE, &big));

    // Missing values make every comparison false, `!=` included; `not` turns that around.
    assert!(!eval("context.Tier == 'gold'", &f));
    assert!(!eval("context.Tier != 'gold'", &f));
    assert!(!eval("context.Tier exists", &f));
    assert!(eval("not context.Tier exists", &f));
    assert!(eval("not (context.Tier == 'gold')", &f));
    assert!(!eval("contact.phone starts_with '+1'", &f));
    assert!(!eval("conversation.priority >= 0", &f));
    assert!(!eval("conversation.skills exists", &f));
    assert!(!eval("'billing' in conversation.skills", &f));

    let mut classified = f.clone();
    classified.priority = Some(3);
    classified.skills = vec![Skill::new("Billing", Some(2))];
    assert!(eval("conversation.priority == 3 and conversation.skills exists", &classified));
    assert!(eval("'billing' in conversation.skills and conversation.skills contains 'BILLING'", &classified));
    assert!(!eval("conversation.skills contains 'bill'", &classified), "skills match whole names");

    // A fact whose type drifted from the schema compares false rather than failing.
    let mut drifted = f.clone();
    drifted.context.insert("Amount".into(), "lots".into());
    assert!(!eval("context.Amount > 1", &drifted));
    assert!(!eval("context.Amount != 1", &drifted));
    assert!(eval("context.Amount exists", &drifted));
}

#[test]
fn a_condition_knows_the_context_variables_it_reads() {
    let c =
        Condition::new("context.Amount > 1 or context.'Order Id' exists and context.Amount < 9", &schema()).unwrap();
    assert_eq!(c.context_variables().collect::<Vec<_>>(), ["Amount", "Order Id"]);
    assert!(c.expr().paths().contains(&Path::Context("Amount".into())));
    assert_eq!(c.source(), "context.Amount > 1 or context.'Order Id' exists and context.Amount < 9");
}

fn q(n: u128) -> QueueId {
    QueueId::from(uuid::Uuid::from_u128(n))
}

fn conv(n: u128) -> ConversationId {
    ConversationId::from(uuid::Uuid::from_u128(n))
}

fn workstream_rules(v: serde_json::Value) -> WorkstreamRules {
    let spec: WorkstreamRulesSpec = serde_json::from_value(v).unwrap();
    WorkstreamRules::new(&spec, &schema()).unwrap_or_else(|e| panic!("{}: {}", e.field.unwrap_or_default(), e.detail))
}

fn rules_error(v: serde_json::Value) -> (String, String) {
    let spec: WorkstreamRulesSpec = serde_json::from_value(v).unwrap();
    let e = WorkstreamRules::new(&spec, &schema()).unwrap_err();
    assert_eq!(e.code, Code::InvalidRule, "{}", e.detail);
    (e.field.unwrap_or_default(), e.detail)
}

#[test]
fn classification_applies_every_matching_rule_in_order_then_routing_picks_the_first_match() {
    let (vip, xbox, general, fallback) = (q(1), q(2), q(3), q(99));
    let rules = workstream_rules(json!({
        "classification": [
            {
                "name": "Products",
                "rules": [
                    {"condition": "context.Product == 'xbox'",
                     "actions": {"skills": [{"name": "Xbox", "min_proficiency": 3}], "priority": 1}},
                    {"name": "Big orders", "condition": "context.Amount >= 100",
                     "actions": {"append_skills": [{"name": "Billing"}], "priority": 5, "context": {"Tier": "gold"}}},
                    {"condition": "channel == 'voice'", "actions": {"severity": 9}}
                ]
            },
            {
                "name": "Sees the first ruleset's work",
                "rules": [
                    {"condition": "context.Tier == 'gold' and conversation.priority == 5",
                     "actions": {"append_skills": [{"name": "Xbox", "min_proficiency": 5}], "severity": 1}}
                ]
            }
        ],
        "route_to_queue": {"rules": [
            {"condition": "conversation.severity == 1 and 'billing' in conversation.skills", "queue": vip},
            {"condition": "context.Product == 'xbox'", "queue": xbox},
            {"condition": "true", "queue": general}
        ]}
    }));
    let mut f = facts();
    let outcome = rules.run(&mut f, conv(7), fallback);
    assert_eq!(outcome.classified.iter().map(|m| (m.ruleset, m.rule)).collect::<Vec<_>>(), [(0, 0), (0, 1), (1, 0)]);
    assert_eq!(f.skills, [Skill::new("Xbox", Some(5)), Skill::new("Billing", None)]);
    assert_eq!((f.priority, f.severity), (Some(5), Some(1)));
    assert_eq!(f.context.get("Tier"), Some(&Value::from("gold")));
    assert_eq!((outcome.route.queue, outcome.route.rule), (vip, Some(0)));

    // A small Xbox order skips the second rule and the second ruleset.
    let mut small = facts();
    small.context.insert("Amount".into(), Value::Number(5.0));
    let outcome = rules.run(&mut small, conv(7), fallback);
    assert_eq!(outcome.classified.len(), 1);
    assert_eq!((small.priority, small.severity), (Some(1), None));
    assert_eq!((outcome.route.queue, outcome.route.rule), (xbox, Some(1)));

    // No match at all goes to the fallback queue; so does every item when there are no rules.
    let only_xbox = workstream_rules(json!({"route_to_queue": {"rules": [
        {"condition": "context.Product == 'xbox'", "queue": xbox}]}}));
    let mut other = Facts::default();
    let outcome = only_xbox.run(&mut other, conv(7), fallback);
    assert_eq!((outcome.route.queue, outcome.route.rule), (fallback, None));
    let none = workstream_rules(json!({}));
    assert_eq!(none.run(&mut facts(), conv(7), fallback).route.queue, fallback);
    assert_eq!(WorkstreamRules::default().run(&mut facts(), conv(7), fallback).route.queue, fallback);
}

#[test]
fn skills_replace_then_append_and_an_empty_list_clears() {
    let ruleset: ClassificationRulesetSpec = serde_json::from_value(json!({"rules": [
        {"condition": "true",
         "actions": {"skills": [], "append_skills": [{"name": "A"}, {"name": "B", "min_proficiency": 1}]}},
        {"condition": "true", "actions": {"append_skills": [{"name": "B", "min_proficiency": 4}]}}
    ]}))
    .unwrap();
    let ruleset = ClassificationRuleset::new(&ruleset, &schema()).unwrap();
    let mut f = Facts { skills: vec![Skill::new("Old", None)], ..Facts::default() };
    assert_eq!(ruleset.apply(&mut f), [0, 1]);
    assert_eq!(f.skills, [Skill::new("A", None), Skill::new("B", Some(4))]);

    // Skill names compare ignoring case, in appends and in the duplicate check.
    let ruleset: ClassificationRulesetSpec = serde_json::from_value(json!({"rules": [
        {"condition": "true", "actions": {"append_skills": [{"name": "billing", "min_proficiency": 2}]}}
    ]}))
    .unwrap();
    let ruleset = ClassificationRuleset::new(&ruleset, &schema()).unwrap();
    let mut f = Facts { skills: vec![Skill::new("Billing", None)], ..Facts::default() };
    ruleset.apply(&mut f);
    assert_eq!(f.skills, [Skill::new("Billing", Some(2))]);
    let twice: ClassificationRulesetSpec = serde_json::from_value(json!({"rules": [
        {"condition": "true", "actions": {"skills": [{"name": "billing"}, {"name": "BILLING"}]}}
    ]}))
    .unwrap();
    let e = ClassificationRuleset::new(&twice, &schema()).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("rules[0].actions.skills[1].name"));
}

#[test]
fn validation_errors_name_the_rule() {
    let qa = q(1).to_string();
    let qb = q(2).to_string();
    let cases = [
        (
            json!({"classification": [{"rules": [{"condition": "true", "actions": {"priority": 1}},
                {"condition": "true", "actions": {"priority": 1}},
                {"condition": "context.Amout > 1", "actions": {"priority": 2}}]}]}),
            "classification[0].rules[2].condition",
            "column 1: unknown context variable `Amout`",
        ),
        (
            json!({"classification": [{"rules": []},
                {"rules": [{"condition": "context.Amount == 'x'", "actions": {"priority": 1}}]}]}),
            "classification[1].rules[0].condition",
            "column 16:",
        ),
        (
            json!({"classification": [{"rules": [{"condition": "true", "actions": {}}]}]}),
            "classification[0].rules[0].actions",
            "at least one action",
        ),
        (
            json!({"classification": [{"rules": [{"condition": "true", "actions": {"context": {"Amount": "x"}}}]}]}),
            "classification[0].rules[0].actions.context.Amount",
            "holds number values",
        ),
        (
            json!({"classification": [{"rules": [{"condition": "true", "actions": {"context": {"Nope": 1}}}]}]}),
            "classification[0].rules[0].actions.context.Nope",
            "no context variable",
        ),
        (
            json!({"classification": [{"rules": [{"condition": "true",
                "actions": {"append_skills": [{"name": "A"}, {"name": "A"}]}}]}]}),
            "classification[0].rules[0].actions.append_skills[1].name",
            "listed twice",
        ),
        (
            json!({"classification": [{"rules": [{"condition": "true", "actions": {"skills": [{"name": " "}]}}]}]}),
            "classification[0].rules[0].actions.skills[0].name",
            "non-empty",
        ),
        (
            json!({"route_to_queue": {"rules": [{"condition": "channel ==", "queue": qa}]}}),
            "route_to_queue.rules[0].condition",
            "column 11: expected a value",
        ),
        (
            json!({"route_to_queue": {"rules": [{"condition": "true", "queue": qa},
                {"condition": "true", "split": [{"queue": qa, "percent": 60}, {"queue": qb, "percent": 30}]}]}}),
            "route_to_queue.rules[1].split",
            "add up to 90 percent, not 100",
        ),
        (
            json!({"route_to_queue": {"rules": [{"condition": "true",
                "split": [{"queue": qa, "percent": 60}, {"queue": qb, "percent": 50}]}]}}),
            "route_to_queue.rules[0].split",
            "add up to 110 percent",
        ),
        (
            json!({"route_to_queue": {"rules": [{"condition": "true",
                "split": [{"queue": qa, "percent": 100}, {"queue": qb, "percent": 0}]}]}}),
            "route_to_queue.rules[0].split[1].percent",
            "1 to 100",
        ),
        (
            json!({"route_to_queue": {"rules": [{"condition": "true",
                "split": [{"queue": qa, "percent": 50}, {"queue": qa, "percent": 50}]}]}}),
            "route_to_queue.rules[0].split[1].queue",
            "listed twice",
        ),
        (
            json!({"route_to_queue": {"rules": [{"condition": "true", "split": []}]}}),
            "route_to_queue.rules[0].split",
            "at least one queue",
        ),
        (
            json!({"route_to_queue": {"rules": [{"condition": "true"}]}}),
            "route_to_queue.rules[0]",
            "exactly one of `queue` or `split`",
        ),
        (
            json!({"route_to_queue": {"rules": [{"condition": "true", "queue": qa,
                "split": [{"queue": qa, "percent": 100}]}]}}),
            "route_to_queue.rules[0]",
            "exactly one of",
        ),
        (
            json!({"route_to_queue": {"rules": [{"name": "", "condition": "true", "queue": qa}]}}),
            "route_to_queue.rules[0].name",
            "blank",
        ),
    ];
    for (spec, field, expected) in cases {
        let (got, detail) = rules_error(spec.clone());
        assert_eq!(got, field, "{spec}: {detail}");
        assert!(detail.contains(field) && detail.contains(expected), "{detail}");
    }

    // The standalone rulesets report paths from their own root.
    let spec: RouteToQueueSpec =
        serde_json::from_value(json!({"rules": [{"condition": "true", "split": [{"queue": qa, "percent": 1}]}]}))
            .unwrap();
    assert_eq!(RouteToQueue::new(&spec, &schema()).unwrap_err().field.as_deref(), Some("rules[0].split"));
    let too_many = json!({"rules": (0..101).map(|_| json!({"condition": "true", "queue": qa})).collect::<Vec<_>>()});
    let spec: RouteToQueueSpec = serde_json::from_value(too_many).unwrap();
    assert_eq!(RouteToQueue::new(&spec, &schema()).unwrap_err().field.as_deref(), Some("rules"));
    // Unknown JSON fields are refused by the stored shape itself.
    assert!(
        serde_json::from_value::<WorkstreamRulesSpec>(json!({"route_to_queue": {"rules": [
        {"condition": "true", "queue": qa, "weight": 1}]}}))
        .is_err()
    );
}

#[test]
fn stored_form_round_trips_and_keeps_the_written_condition() {
    let (qa, qb) = (q(1), q(2));
    let stored = json!({
        "classification": [{"name": "Tiering", "rules": [
            {"name": "Gold", "condition": "context.Amount >= 500",
             "actions": {"context": {"Tier": "gold"}, "priority": 7}}
        ]}],
        "route_to_queue": {"rules": [
            {"condition": "context.Tier == 'gold'", "queue": qa},
            {"name": "Spread", "condition": "true",
             "split": [{"queue": qa, "percent": 30}, {"queue": qb, "percent": 70}]}
        ]}
    });
    let rules = workstream_rules(stored.clone());
    assert_eq!(serde_json::to_value(&rules).unwrap(), stored);
    assert_eq!(rules.classification()[0].rules()[0].condition().source(), "context.Amount >= 500");
    assert_eq!(
        rules.route_to_queue().queues(),
        [
            ("rules[0].queue".to_string(), qa),
            ("rules[1].split[0].queue".into(), qa),
            ("rules[1].split[1].queue".into(), qb)
        ]
    );
    // Loading re-checks against the schema of the day.
    let spec: WorkstreamRulesSpec = serde_json::from_value(stored).unwrap();
    let without_tier = Schema::default().with_context("Amount", VariableKind::Number);
    let e = WorkstreamRules::new(&spec, &without_tier).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("classification[0].rules[0].actions.context.Tier"));
}

#[test]
fn splits_are_deterministic_and_roughly_proportional() {
    let (a, b, c, fallback) = (q(1), q(2), q(3), q(99));
    let rules = workstream_rules(json!({"route_to_queue": {"rules": [{"condition": "true", "split": [
        {"queue": a, "percent": 50}, {"queue": b, "percent": 30}, {"queue": c, "percent": 20}]}]}}));

    // Real ids (UUIDv7, time-ordered) and sequential ones both spread evenly.
    let real: Vec<ConversationId> = (0..10_000).map(|_| ConversationId::new()).collect();
    let sequential: Vec<ConversationId> = (0..10_000).map(conv).collect();
    for ids in [real, sequential] {
        let mut counts: BTreeMap<QueueId, u32> = BTreeMap::new();
        for id in &ids {
            let first = rules.run(&mut Facts::default(), *id, fallback).route;
            let again = rules.run(&mut facts(), *id, fallback).route;
            assert_eq!(first, again, "the same conversation lands in the same queue");
            *counts.entry(first.queue).or_default() += 1;
        }
        for (queue, expected) in [(a, 5_000), (b, 3_000), (c, 2_000)] {
            let got = counts.get(&queue).copied().unwrap_or_default();
            assert!(got.abs_diff(expected) < 300, "{queue}: {got} of 10,000, expected about {expected}");
        }
    }

    // Every bucket 0..100 is reachable and the mapping is fixed forever.
    let buckets: std::collections::BTreeSet<u8> = (0..5_000).map(|i| split_bucket(conv(i))).collect();
    assert_eq!(buckets.len(), 100);
    assert_eq!([0, 1, 2, 3, u128::MAX].map(|i| split_bucket(conv(i))), [0, 57, 52, 46, 63]);
}

mod properties {
    use proptest::prelude::*;
    use switchboard_domain::routing::rules::{Expr, Facts, Skill, Value};

    fn comparison() -> impl Strategy<Value = String> {
        let path = prop::sample::select(vec![
            "channel",
            "language",
            "context.Product",
            "context.Amount",
            "context.'Order Id'",
            "contact.email",
            "conversation.priority",
            "conversation.skills",
        ]);
        let op =
            prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">=", "in", "contains", "starts_with", "ends_with"]);
        let literal = prop::sample::select(vec![
            "'sms'",
            "\"XBox\"",
            "120",
            "-1.5",
            "2e2",
            "['a', \"xbox\"]",
            "[1, 120]",
            "[]",
            "'a\\\"b'",
            "true",
        ]);
        prop_oneof![
            (path.clone(), op, literal).prop_map(|(p, o, l)| format!("{p} {o} {l}")),
            path.prop_map(|p| format!("{p} exists")),
            Just("true".to_string()),
            Just("FALSE".to_string()),
        ]
    }

    fn condition() -> impl Strategy<Value = String> {
        comparison().prop_recursive(5, 48, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
                inner.clone().prop_map(|a| format!("not {a}")),
                inner.prop_map(|a| format!("({a})")),
            ]
        })
    }

    fn facts(n: i32) -> Facts {
        let mut f = Facts { channel: Some("sms".into()), ..Facts::default() };
        if n % 2 == 0 {
            f.context.insert("Product".into(), "xbox".into());
            f.context.insert("Amount".into(), Value::Number(120.0));
            f.skills.push(Skill::new("a", None));
        }
        if n % 3 == 0 {
            f.priority = Some(n);
            f.contact.insert("email".into(), "a\"b@x.com".into());
        }
        f
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// The canonical form parses back to itself and means the same thing.
        #[test]
        fn canonical_form_round_trips(source in condition()) {
            let parsed = Expr::parse(&source).map_err(|e| TestCaseError::fail(format!("{source}: {e}")))?;
            let canonical = parsed.to_string();
            let again = Expr::parse(&canonical).map_err(|e| TestCaseError::fail(format!("{canonical}: {e}")))?;
            prop_assert_eq!(again.to_string(), canonical.clone());
            for n in 0..6 {
                let f = facts(n);
                prop_assert_eq!(parsed.matches(&f), again.matches(&f), "{} vs {}", source, canonical);
            }
        }

        /// Whatever the input, the parser answers with an expression or an error inside the text, never a panic.
        #[test]
        fn parsing_never_panics(source in "[a-zA-Z_.'\"\\\\()\\[\\], =<>!0-9eé-]{0,60}") {
            if let Err(e) = Expr::parse(&source) {
                prop_assert!(e.column >= 1 && e.column <= source.chars().count() + 1, "{}: {}", source, e);
            }
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(source in any::<String>()) {
            let _ = Expr::parse(&source);
        }
    }
}
