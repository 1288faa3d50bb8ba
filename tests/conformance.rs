//! The image-spec's own schema test vectors (`corpus/conformance/image-spec`, copied from
//! ../shared with their README): each document is validated as the kind `cases.tsv` names
//! and classified invalid when any finding has error severity by default. 100% must agree.

use std::fs;

use oci_audit::Severity;
use oci_audit::check::document::{self, Context, Expect};

use crate::support::repo;

fn classify(kind: &str, bytes: &mut [u8]) -> (bool, Vec<oci_audit::Finding>) {
    let mut findings = Vec::new();
    let mut cx = Context {
        path: &"case".into(),
        digest: None,
        findings: &mut findings,
    };
    match kind {
        "descriptor" => {
            document::standalone_descriptor(bytes, &mut cx);
        }
        "manifest" => {
            document::parse(bytes, Expect::Manifest, &mut cx);
        }
        "index" => {
            document::parse(bytes, Expect::Index, &mut cx);
        }
        "config" => {
            document::parse(bytes, Expect::Config, &mut cx);
        }
        "layout" => {
            document::layout_header(bytes, &mut cx);
        }
        other => panic!("unknown kind {other}"),
    }
    let invalid = findings
        .iter()
        .any(|f| f.rule.default_severity() == Some(Severity::Error));
    (invalid, findings)
}

#[test]
fn image_spec_vectors_classify_as_the_spec_expects() {
    let dir = repo().join("corpus/conformance/image-spec");
    let table = fs::read_to_string(dir.join("cases.tsv")).unwrap();
    let mut total = 0;
    let mut wrong = Vec::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (path, kind, expect) = (fields[0], fields[1], fields[2]);
        let mut bytes = fs::read(dir.join(path)).unwrap();
        let (invalid, findings) = classify(kind, &mut bytes);
        let verdict = if invalid { "invalid" } else { "valid" };
        total += 1;
        if verdict != expect {
            wrong.push(format!(
                "{path} ({kind}): expected {expect}, got {verdict}: {findings:?}"
            ));
        }
    }
    assert_eq!(total, 82, "cases.tsv changed size");
    assert!(
        wrong.is_empty(),
        "{} of {total} misclassified:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
