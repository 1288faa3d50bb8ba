//! Findings are known by identity (rule, path, digest, referrer), never by their message.
//! `OCI_AUDIT_REWORD_MESSAGES` rewords every message as the tool makes it, as another build
//! might word them; with it, every corpus case gives the same exit code, counters and
//! identities, a merge of parts worded otherwise holds each finding once, and a baseline
//! or ledger run worded otherwise marks nothing new and nothing resolved.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::corpus::{cases, read_case};
use crate::support::{Output, run, run_env};

const REWORD: (&str, &str) = ("OCI_AUDIT_REWORD_MESSAGES", "1");

/// Rule, path, digest, referrer and pointer of each finding: a sorted multiset.
fn identities(report: &Value) -> Vec<[String; 5]> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut out: Vec<[String; 5]> = findings(report)
        .iter()
        .map(|f| {
            let at = &f["location"];
            [
                text(&f["rule"]),
                text(&at["path"]),
                text(&at["digest"]),
                text(&at["via"]["path"]),
                text(&at["via"]["pointer"]),
            ]
        })
        .collect();
    out.sort();
    out
}

fn findings(report: &Value) -> &[Value] {
    report["findings"].as_array().map_or(&[], Vec::as_slice)
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", out.stdout, out.stderr))
}

/// The counters, without the one that differs between any two runs.
fn stats(report: &Value) -> Value {
    let mut stats = report["stats"].clone();
    stats["elapsed_ms"] = Value::Null;
    stats
}

/// The arguments that audit a corpus case as JSON.
fn case_args(dir: &Path) -> Vec<String> {
    let mut args = vec!["--format".to_owned(), "json".to_owned()];
    let case = read_case(dir);
    if case.zot {
        args.push("--zot".to_owned());
    }
    if case.verify_layers {
        args.push("--verify-layers".to_owned());
    }
    args.push(dir.join("store").to_str().unwrap().to_owned());
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn rewording_every_message_changes_no_exit_code_counter_or_identity() {
    let mut with_findings = 0;
    for dir in cases() {
        let args = case_args(&dir);
        let plain = run(&strs(&args));
        let reworded = run_env(&strs(&args), &[REWORD]);
        let name = dir.display();
        assert_eq!(plain.code, reworded.code, "{name}: {}", reworded.stderr);
        let (plain, reworded) = (json(&plain), json(&reworded));
        assert_eq!(identities(&plain), identities(&reworded), "{name}");
        assert_eq!(stats(&plain), stats(&reworded), "{name}");
        if !findings(&plain).is_empty() {
            with_findings += 1;
            // The hook did reword: no message is as it was.
            for (a, b) in findings(&plain).iter().zip(findings(&reworded)) {
                assert_ne!(a["message"], b["message"], "{name}");
            }
        }
    }
    assert!(
        with_findings > 40,
        "only {with_findings} cases have findings"
    );
}

/// Shards `0..count` of `store`, one after another, the odd ones with their messages
/// reworded; the partial files.
fn mixed_shards(args: &[String], count: u32, dir: &Path) -> Vec<PathBuf> {
    (0..count)
        .map(|i| {
            let file = dir.join(format!("part-{i}.json"));
            let shard = format!("{i}/{count}");
            let mut shard_args = vec!["--shard", &shard, "--partial", file.to_str().unwrap()];
            // The store, without --format, which a shard does not take.
            shard_args.extend(strs(&args[2..]));
            let env = if i % 2 == 1 { vec![REWORD] } else { vec![] };
            let out = run_env(&shard_args, &env);
            assert_eq!(out.code, 0, "shard {shard}: {}", out.stderr);
            file
        })
        .collect()
}

#[test]
fn a_merge_of_parts_worded_otherwise_holds_each_finding_once() {
    let scratch = tempfile::tempdir().unwrap();
    let mut merged_cases = 0;
    for dir in cases() {
        let args = case_args(&dir);
        let whole = run(&strs(&args));
        let report = json(&whole);
        if findings(&report).is_empty() {
            continue;
        }
        let name = dir.display();
        for count in [2, 3] {
            let parts = scratch.path().join(format!("{merged_cases}-{count}"));
            std::fs::create_dir_all(&parts).unwrap();
            let files = mixed_shards(&args, count, &parts);
            let mut merge_args = vec!["merge", "--format", "json"];
            merge_args.extend(files.iter().map(|f| f.to_str().unwrap()));
            let merged = run(&merge_args);
            assert_eq!(
                merged.code, whole.code,
                "{name} in {count}: {}",
                merged.stderr
            );
            let merged = json(&merged);
            assert_eq!(
                identities(&merged),
                identities(&report),
                "{name} in {count}"
            );
            assert_eq!(stats(&merged), stats(&report), "{name} in {count}");
        }
        merged_cases += 1;
    }
    assert!(merged_cases > 40, "only {merged_cases} cases merged");
}

#[test]
fn a_baseline_or_ledger_worded_otherwise_marks_nothing_new_or_resolved() {
    let scratch = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for dir in cases() {
        let args = case_args(&dir);
        let plain = run(&strs(&args));
        if findings(&json(&plain)).is_empty() {
            continue;
        }
        let name = dir.display();
        let baseline = scratch.path().join("baseline.json");
        std::fs::write(&baseline, &plain.stdout).unwrap();
        let mut against = strs(&args);
        against.splice(
            0..0,
            ["--baseline", baseline.to_str().unwrap(), "--fail-on-new"],
        );
        let reworded = run_env(&against, &[REWORD]);
        assert_eq!(
            reworded.code, 0,
            "{name}: nothing is new: {}",
            reworded.stdout
        );
        let report = json(&reworded);
        assert_eq!(report["baseline"]["new"], 0, "{name}");
        assert_eq!(report["baseline"]["resolved"], 0, "{name}");
        compared += 1;
    }
    assert!(compared > 40, "only {compared} baselines compared");
    // The ledger's previous run as the baseline: recorded plainly, read back reworded.
    let dir = crate::support::repo().join("corpus/distribution/blob-digest-mismatch");
    let state = scratch.path().join("ledger.sqlite");
    let case = case_args(&dir);
    let mut args = strs(&case);
    args.splice(0..0, ["--state", state.to_str().unwrap()]);
    let first = json(&run(&args));
    assert!(!findings(&first).is_empty());
    let second = json(&run_env(&args, &[REWORD]));
    assert_eq!(second["baseline"]["new"], 0);
    assert_eq!(second["baseline"]["resolved"], 0);
    assert_eq!(identities(&first), identities(&second));
}
