//! `--shard I/N --partial FILE` and `oci-audit merge`: shards run as separate processes in
//! parallel, and what `merge` prints is what one unsharded run prints, with its exit code.

use std::fs;
use std::path::{Path, PathBuf};

use oci_audit::model::digest::Digest;
use oci_audit::shard::Shard;

use crate::corpus::{cases, read_case};
use crate::support::{Layout, Output, normalize, repo, rule_ids, run, run_env};

/// Runs shards `0..count` of `store` at once, each its own process, and returns their
/// partial files in `dir`.
fn shards(store: &Path, extra: &[&str], count: u32, dir: &Path) -> Vec<PathBuf> {
    shards_of(store.to_str().unwrap(), extra, &[], count, dir)
}

/// [`shards`] of `store` (a path or a URL), with `env` set.
pub(crate) fn shards_of(
    store: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    count: u32,
    dir: &Path,
) -> Vec<PathBuf> {
    let files: Vec<PathBuf> = (0..count)
        .map(|i| dir.join(format!("part-{i}-of-{count}.json")))
        .collect();
    std::thread::scope(|scope| {
        let running: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                scope.spawn(move || {
                    let shard = format!("{i}/{count}");
                    let mut args = vec!["--shard", &shard, "--partial", file.to_str().unwrap()];
                    args.extend_from_slice(extra);
                    args.push(store);
                    run_env(&args, env)
                })
            })
            .collect();
        for (i, shard) in running.into_iter().enumerate() {
            let out = shard.join().unwrap();
            assert_eq!(out.code, 0, "shard {i}/{count} of {store}: {}", out.stderr);
            assert!(
                out.stdout.is_empty(),
                "a shard prints nothing: {}",
                out.stdout
            );
        }
    });
    files
}

/// `oci-audit plan` of `store` (a path or a URL) with `extra` and `env`, then shards `0..count`
/// run with that plan at once: the plan and the parts, in `dir`.
pub(crate) fn planned_shards_of(
    store: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    count: u32,
    dir: &Path,
) -> (PathBuf, Vec<PathBuf>) {
    let plan = dir.join("plan");
    let plan_arg = plan.to_str().unwrap();
    let mut args = vec!["plan", "--plan", plan_arg];
    args.extend_from_slice(extra);
    args.push(store);
    let out = run_env(&args, env);
    assert_eq!(out.code, 0, "plan of {store}: {}", out.stderr);
    let mut extra = extra.to_vec();
    extra.extend(["--plan", plan_arg]);
    let parts = shards_of(store, &extra, env, count, dir);
    (plan, parts)
}

/// `oci-audit merge FILES… EXTRA…`.
pub(crate) fn merge(files: &[PathBuf], extra: &[&str]) -> Output {
    let mut args = vec!["merge"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn merged_report_is_the_unsharded_report_for_every_corpus_case() {
    let mut failures = Vec::new();
    for dir in cases() {
        let case = read_case(&dir);
        let store = dir.join("store");
        let mut extra = vec!["--coverage", "full"];
        if case.zot {
            extra.push("--zot");
        }
        if case.verify_layers {
            extra.push("--verify-layers");
        }
        let store_arg = store.to_str().unwrap();
        let whole = |format: &str| {
            let mut args = extra.clone();
            args.extend(["--format", format, store_arg]);
            run(&args)
        };
        let (json, text) = (whole("json"), whole("text"));
        assert!(json.code < 2, "{}: {}", dir.display(), json.stderr);
        for count in [1, 2, 3, 7] {
            let parts = tempfile::tempdir().unwrap();
            let files = shards(&store, &extra, count, parts.path());
            let mut merged_args = vec!["--format", "json", "--coverage", "full"];
            let merged = merge(&files, &merged_args);
            if merged.code != json.code {
                failures.push(format!(
                    "{} in {count}: merge exits {}, an unsharded run {}: {}",
                    dir.display(),
                    merged.code,
                    json.code,
                    merged.stderr
                ));
            }
            if normalize(&merged.stdout) != normalize(&json.stdout) {
                failures.push(format!(
                    "{} in {count}: merged JSON differs\n--- unsharded\n{}--- merged\n{}",
                    dir.display(),
                    json.stdout,
                    merged.stdout
                ));
            }
            if count == 3 {
                // The same split, sharing one metadata pass.
                let planned = tempfile::tempdir().unwrap();
                let (plan, planned_files) =
                    planned_shards_of(store_arg, &extra, &[], count, planned.path());
                let mut args = merged_args.clone();
                args.extend(["--plan", plan.to_str().unwrap()]);
                let merged = merge(&planned_files, &args);
                if merged.code != json.code || normalize(&merged.stdout) != normalize(&json.stdout)
                {
                    failures.push(format!(
                        "{} in {count} with a plan: merge exits {} (unsharded {}), JSON\n--- unsharded\n{}--- merged\n{}{}",
                        dir.display(),
                        merged.code,
                        json.code,
                        json.stdout,
                        merged.stdout,
                        merged.stderr
                    ));
                }
                merged_args[1] = "text";
                let merged = merge(&files, &merged_args);
                if normalize(&merged.stdout) != normalize(&text.stdout) {
                    failures.push(format!(
                        "{} in {count}: merged text differs\n--- unsharded\n{}--- merged\n{}",
                        dir.display(),
                        text.stdout,
                        merged.stdout
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn merge_applies_the_policy_and_baseline_as_an_audit_does() {
    let store = repo().join("corpus/layout/blob-digest-mismatch/store");
    let store_arg = store.to_str().unwrap();
    let parts = tempfile::tempdir().unwrap();
    let files = shards(&store, &[], 3, parts.path());
    let baseline = parts.path().join("baseline.json");
    fs::write(&baseline, run(&["--format", "json", store_arg]).stdout).unwrap();
    let baseline = baseline.to_str().unwrap().to_owned();
    for policy in [
        vec!["--severity", "blob-digest-mismatch=warning"],
        vec!["--severity", "blob-digest-mismatch=ignore"],
        vec!["--fail-on", "info"],
        vec!["--baseline", &baseline, "--fail-on-new"],
    ] {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(&policy);
        let merged = merge(&files, &args);
        args.push(store_arg);
        let whole = run(&args);
        assert_eq!(merged.code, whole.code, "{policy:?}: {}", merged.stderr);
        assert_eq!(
            normalize(&merged.stdout),
            normalize(&whole.stdout),
            "{policy:?}"
        );
    }
}

/// A blob's content whose digest falls in slice `index` of `count`, for a store changed
/// between shards in a known way.
fn blob_of_slice(index: u32, count: u32, tag: &str) -> (Vec<u8>, String) {
    (0u32..)
        .map(|n| format!("{tag} {n}\n").into_bytes())
        .map(|bytes| {
            let digest = crate::support::sha256(&bytes);
            (bytes, digest)
        })
        .find(|(_, digest)| Shard::slice_of(&Digest::parse(digest).unwrap(), count) == index)
        .unwrap()
}

fn blob_path(layout: &Layout, digest: &str) -> PathBuf {
    layout
        .path()
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

#[test]
fn shards_that_listed_different_stores_say_so() {
    let layout = Layout::new();
    let (manifest, size) = layout.image("amd64", b"layer");
    layout.index_json(&[(&manifest, size, "latest")]);
    // Both blobs are shard 0's: `late` is written after shard 0 listed the store, so no
    // shard verifies it; `gone` is deleted after shard 0 verified it, before shard 1
    // lists the store.
    let (late, late_digest) = blob_of_slice(0, 2, "late");
    let (gone, gone_digest) = blob_of_slice(0, 2, "gone");
    layout.blob(&gone);
    let parts = tempfile::tempdir().unwrap();
    let part = |i: u32| parts.path().join(format!("{i}.json"));
    let shard = |i: u32| {
        let shard = format!("{i}/2");
        let out = run(&[
            "--shard",
            &shard,
            "--partial",
            part(i).to_str().unwrap(),
            layout.arg(),
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    };
    shard(0);
    layout.blob(&late);
    fs::remove_file(blob_path(&layout, &gone_digest)).unwrap();
    shard(1);
    let merged = merge(&[part(0), part(1)], &["--format", "json"]);
    // Neither is an error: the store moved under the audit.
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    let report: serde_json::Value = serde_json::from_str(&merged.stdout).unwrap();
    let of = |rule: &str| -> Vec<(String, String)> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| {
                (
                    f["location"]["digest"].as_str().unwrap().to_owned(),
                    f["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        of("shard-blob-unverified"),
        [(
            late_digest,
            "listed by shard 1 of 2 but not by shard 0, whose slice it is: no shard verified it"
                .to_owned()
        )]
    );
    assert_eq!(
        of("shard-listing-changed"),
        [(
            gone_digest,
            "listed by shard 0 of 2 and not by shard 1: it appeared or vanished while the shards ran"
                .to_owned()
        )]
    );
    assert_eq!(report["stats"]["blobs"], 4, "the first shard's listing");
}

#[test]
fn merge_refuses_parts_that_are_not_one_audit() {
    let store = repo().join("corpus/layout/blob-digest-mismatch/store");
    let other = repo().join("corpus/clean/skopeo-copy/store");
    let dir = tempfile::tempdir().unwrap();
    let in_dir = |name: &str| dir.path().join(name);
    let three = shards(&store, &[], 3, dir.path());
    let two = shards(&store, &[], 2, dir.path());
    let refused = |files: &[PathBuf], says: &str| {
        let out = merge(files, &[]);
        assert_eq!(out.code, 2, "{files:?}: {}", out.stdout);
        assert!(out.stdout.is_empty());
        assert!(out.stderr.contains(says), "{files:?}: {}", out.stderr);
    };
    refused(
        &[three[0].clone(), three[2].clone()],
        "shard 1 of 3 is missing (given: 0, 2)",
    );
    refused(
        &[three[0].clone(), three[1].clone(), three[1].clone()],
        "shard 1/3 is given twice",
    );
    refused(
        &[three[0].clone(), three[1].clone(), two[1].clone()],
        "all parts must come from one split into the same number of shards",
    );
    // Another store, and other options that change findings.
    let elsewhere = tempfile::tempdir().unwrap();
    let other_store = shards(&other, &[], 2, elsewhere.path());
    refused(
        &[two[0].clone(), other_store[1].clone()],
        "audited another store",
    );
    let unverified = tempfile::tempdir().unwrap();
    let no_verify = shards(&store, &["--no-verify"], 2, unverified.path());
    refused(
        &[two[0].clone(), no_verify[1].clone()],
        "was made with other options",
    );
    // Another version of oci-audit, another format of the file, not a partial at all.
    let edit = |from: &Path, name: &str, field: &str, value: serde_json::Value| {
        let mut json: serde_json::Value = serde_json::from_slice(&fs::read(from).unwrap()).unwrap();
        json[field] = value;
        let to = in_dir(name);
        fs::write(&to, serde_json::to_vec(&json).unwrap()).unwrap();
        to
    };
    let older = edit(&two[1], "older.json", "tool_version", "0.0.1".into());
    refused(
        &[two[0].clone(), older],
        "was written by another version of oci-audit",
    );
    let future = edit(&two[1], "future.json", "oci_audit_partial", 99.into());
    refused(&[two[0].clone(), future], "a partial result of format 99");
    let report = in_dir("report.json");
    fs::write(
        &report,
        run(&["--format", "json", store.to_str().unwrap()]).stdout,
    )
    .unwrap();
    refused(&[report], "not a partial result");
    refused(&[in_dir("absent.json")], "absent.json");
}

#[test]
fn shard_options_are_checked_before_the_audit() {
    let layout = Layout::new();
    let (manifest, size) = layout.image("amd64", b"layer");
    layout.index_json(&[(&manifest, size, "latest")]);
    let outside = tempfile::tempdir().unwrap();
    let part = outside.path().join("part.json");
    let part = part.to_str().unwrap();
    let refused = |args: &[&str], says: &str| {
        let out = run(args);
        assert_eq!(out.code, 2, "{args:?}");
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    };
    refused(&["--shard", "0/2", layout.arg()], "--partial");
    refused(
        &["--shard", "2/2", "--partial", part, layout.arg()],
        "the index counts from 0",
    );
    refused(
        &["--shard", "auto/2", "--partial", part, layout.arg()],
        "JOB_COMPLETION_INDEX, which is not set",
    );
    let state = outside.path().join("ledger.db");
    refused(
        &[
            "--shard",
            "0/2",
            "--partial",
            part,
            "--state",
            state.to_str().unwrap(),
            layout.arg(),
        ],
        "--state",
    );
    let inside = layout.path().join("part.json");
    refused(
        &[
            "--shard",
            "0/2",
            "--partial",
            inside.to_str().unwrap(),
            layout.arg(),
        ],
        "must be outside the audited tree",
    );
    assert!(!inside.exists());
    // auto takes the index a Kubernetes Indexed Job sets.
    let out = run_env(
        &["--shard", "auto/2", "--partial", part, layout.arg()],
        &[("JOB_COMPLETION_INDEX", "1")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let written: serde_json::Value = serde_json::from_slice(&fs::read(part).unwrap()).unwrap();
    assert_eq!(
        written["shard"],
        serde_json::json!({"index": 1, "count": 2})
    );
    assert!(rule_ids(&serde_json::to_string(&written).unwrap()).is_empty());
}

/// `merge --metrics-file` writes the merged report's metrics, as an unsharded audit's
/// `--metrics-file` does, and a failed run's when the parts cannot be merged.
#[test]
fn merge_writes_metrics_of_the_merged_report_and_of_a_failure() {
    let store = repo().join("corpus/distribution/blob-digest-mismatch/store");
    let dir = tempfile::tempdir().unwrap();
    let parts = shards(&store, &[], 2, dir.path());
    let merged_metrics = dir.path().join("merged.prom");
    let merged = merge(
        &parts,
        &["--metrics-file", merged_metrics.to_str().unwrap()],
    );
    let whole_metrics = dir.path().join("whole.prom");
    let whole = run(&[
        "--metrics-file",
        whole_metrics.to_str().unwrap(),
        store.to_str().unwrap(),
    ]);
    assert_eq!(merged.code, whole.code, "{}", merged.stderr);
    // The same samples but for the run's own times.
    let samples = |file: &Path| -> Vec<String> {
        fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| !l.contains("timestamp") && !l.contains("duration"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(samples(&merged_metrics), samples(&whole_metrics));
    assert!(
        samples(&merged_metrics)
            .iter()
            .any(|l| l.starts_with("oci_audit_run_success") && l.ends_with(" 1"))
    );
    // A shard missing: exit 2, and the metrics say the run failed.
    let failed_metrics = dir.path().join("failed.prom");
    let failed = merge(
        &parts[..1],
        &["--metrics-file", failed_metrics.to_str().unwrap()],
    );
    assert_eq!(failed.code, 2);
    assert!(
        samples(&failed_metrics)
            .iter()
            .any(|l| l.starts_with("oci_audit_run_success") && l.ends_with(" 0")),
        "{:?}",
        samples(&failed_metrics)
    );
}

#[test]
fn planned_shards_split_bytes_evenly_hash_only_their_slice_and_belong_to_one_plan() {
    // Eight images whose layers are the same size: eight layers over four shards, two
    // each, whatever their digests (configs and manifests are read by the plan itself).
    let layout = Layout::new();
    let mut images = Vec::new();
    let mut layers = Vec::new();
    for i in 0..8u8 {
        let layer = vec![i; 64 << 10];
        layers.push(crate::support::sha256(&layer));
        images.push(layout.image("amd64", &layer));
    }
    let names: Vec<String> = (0..8).map(|i| format!("v{i}")).collect();
    let entries: Vec<(&str, usize, &str)> = images
        .iter()
        .zip(&names)
        .map(|((digest, size), name)| (digest.as_str(), *size, name.as_str()))
        .collect();
    layout.index_json(&entries);
    let dir = tempfile::tempdir().unwrap();
    let (plan, parts) = planned_shards_of(layout.arg(), &[], &[], 4, dir.path());
    for part in &parts {
        let json: serde_json::Value = serde_json::from_slice(&fs::read(part).unwrap()).unwrap();
        assert_eq!(json["verified"]["blobs"], 2, "{}", part.display());
        assert_eq!(
            json["verified"]["bytes"],
            2 * (64 << 10),
            "{}",
            part.display()
        );
    }
    let plan_arg = plan.to_str().unwrap();
    let metrics = dir.path().join("oci-audit.prom");
    let merged = merge(
        &parts,
        &[
            "--plan",
            plan_arg,
            "--format",
            "json",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    );
    assert_eq!(merged.code, 0, "{}{}", merged.stdout, merged.stderr);
    let metrics = fs::read_to_string(&metrics).unwrap();
    assert!(metrics.contains("oci_audit_run_success{"), "{metrics}");
    assert!(metrics.contains("oci_audit_store_blobs{"), "{metrics}");

    // A layer damaged after the plan: its shard finds it, as one run would.
    let hex = &layers[5][7..];
    fs::write(
        layout.path().join("blobs/sha256").join(hex),
        vec![9u8; 64 << 10],
    )
    .unwrap();
    let after = tempfile::tempdir().unwrap();
    let again = shards_of(layout.arg(), &["--plan", plan_arg], &[], 4, after.path());
    let merged = merge(&again, &["--plan", plan_arg, "--format", "json"]);
    assert_eq!(merged.code, 1, "{}", merged.stderr);
    assert_eq!(rule_ids(&merged.stdout), ["blob-digest-mismatch"]);

    let refused = |args: &[&str], says: &str| {
        let out = run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stdout);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    };
    let part = |files: &[PathBuf], i: usize| files[i].to_str().unwrap().to_owned();
    // Parts of another plan of the same store, made once a blob was added to it (a plan
    // of a store that did not change is the same file, whose parts are interchangeable).
    let (extra, _) = layout.blob(b"a blob written between the two plans");
    let other = tempfile::tempdir().unwrap();
    let (other_plan, other_parts) = planned_shards_of(layout.arg(), &[], &[], 4, other.path());
    fs::remove_file(layout.path().join("blobs/sha256").join(&extra[7..])).unwrap();
    refused(
        &[
            "merge",
            "--plan",
            other_plan.to_str().unwrap(),
            &part(&other_parts, 0),
            &part(&other_parts, 1),
            &part(&other_parts, 2),
            &part(&parts, 3),
        ],
        "came from another plan",
    );
    // A planned part without its plan, a plan-less part with one.
    refused(
        &["merge", &part(&parts, 0), &part(&parts, 1)],
        "give merge that plan, --plan FILE",
    );
    let plain = tempfile::tempdir().unwrap();
    let unplanned = shards(layout.path(), &[], 1, plain.path());
    refused(
        &["merge", "--plan", plan_arg, &part(&unplanned, 0)],
        "not a part of a shard run with --plan",
    );
    // A shard run otherwise than the plan was made, or of another store.
    let elsewhere = repo().join("corpus/clean/skopeo-copy/store");
    let out_file = dir.path().join("refused.json");
    let out_arg = out_file.to_str().unwrap();
    refused(
        &[
            "--plan",
            plan_arg,
            "--shard",
            "0/2",
            "--partial",
            out_arg,
            "--untagged",
            layout.arg(),
        ],
        "run every shard as the plan was made",
    );
    refused(
        &[
            "--plan",
            plan_arg,
            "--shard",
            "0/2",
            "--partial",
            out_arg,
            elsewhere.to_str().unwrap(),
        ],
        "run every shard as the plan was made",
    );
    assert!(!out_file.exists(), "a refused shard writes no part");
    // --plan is read by a shard only; a plan cannot be written into the store.
    refused(&["--plan", plan_arg, layout.arg()], "a shard reads a plan");
    let inside = layout.path().join("plan");
    refused(
        &["plan", "--plan", inside.to_str().unwrap(), layout.arg()],
        "must be outside the audited tree",
    );
    assert!(!inside.exists());
    // A plan is no report: the merge writes one.
    let report = dir.path().join("report.json");
    for flags in [
        &["--output", report.to_str().unwrap()][..],
        &["--format", "json"][..],
    ] {
        let mut args = vec!["plan", "--plan", plan_arg];
        args.extend(flags);
        args.push(layout.arg());
        refused(&args, "oci-audit plan writes no report");
    }
    assert!(!report.exists());
    // A plan needs a file to write and a store; it is not a shard.
    refused(&["plan", layout.arg()], "oci-audit plan needs --plan FILE");
    refused(
        &["plan", "--plan", plan_arg],
        "oci-audit plan needs the store",
    );
    refused(
        &[
            "plan",
            "--plan",
            plan_arg,
            "--shard",
            "0/2",
            "--partial",
            out_arg,
            layout.arg(),
        ],
        "run each shard afterwards as `oci-audit --plan FILE --shard I/N",
    );
    assert!(!out_file.exists(), "a refused plan writes no part");
    // A plan cut short, and one whose metadata pass is cut off.
    let bytes = fs::read(&plan).unwrap();
    let cut = dir.path().join("cut-plan");
    for (len, says) in [
        (bytes.len() / 3, "a damaged plan"),
        (bytes.len() - 8, "a damaged plan"),
    ] {
        fs::write(&cut, &bytes[..len]).unwrap();
        let cut_arg = cut.to_str().unwrap();
        refused(
            &[
                "merge",
                "--plan",
                cut_arg,
                &part(&parts, 0),
                &part(&parts, 1),
            ],
            says,
        );
    }
    // A plan of another format; a part damaged or written by another version.
    let future = dir.path().join("future-plan");
    fs::write(
        &future,
        zstd::encode_all(&br#"{"oci_audit_plan":99,"tool_version":"9.9.9"}"#[..], 3).unwrap(),
    )
    .unwrap();
    refused(
        &[
            "merge",
            "--plan",
            future.to_str().unwrap(),
            &part(&parts, 0),
        ],
        "a plan of format 99, written by oci-audit 9.9.9",
    );
    let edited = |field: &str, value: serde_json::Value| {
        let mut json: serde_json::Value =
            serde_json::from_slice(&fs::read(&parts[1]).unwrap()).unwrap();
        json[field] = value;
        let to = dir.path().join(format!("edited-{field}.json"));
        fs::write(&to, serde_json::to_vec(&json).unwrap()).unwrap();
        to.to_str().unwrap().to_owned()
    };
    let with = |one: String| {
        let mut args = vec!["merge".to_owned(), "--plan".to_owned(), plan_arg.to_owned()];
        args.extend([part(&parts, 0), one, part(&parts, 2), part(&parts, 3)]);
        args
    };
    for (args, says) in [
        (
            with(edited("shard", serde_json::json!({"index": 5, "count": 4}))),
            "shard 5 of 4 does not exist",
        ),
        (
            with(edited("tool_version", "0.0.1".into())),
            "was written by oci-audit 0.0.1",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, says);
    }
    // Not a plan at all.
    refused(
        &[
            "--plan",
            &part(&parts, 0),
            "--shard",
            "0/2",
            "--partial",
            out_arg,
            layout.arg(),
        ],
        "not a plan of `oci-audit plan",
    );
}

/// The `args:` of the one container of a Job in a committed YAML file, as written.
fn job_args(file: &str) -> Vec<String> {
    let text = fs::read_to_string(repo().join(file)).unwrap();
    let mut lines = text.lines().skip_while(|l| l.trim() != "args:").skip(1);
    let mut args = Vec::new();
    while let Some(arg) = lines.next().and_then(|l| l.trim().strip_prefix("- ")) {
        args.push(arg.to_owned());
    }
    assert!(!args.is_empty(), "{file} has no args");
    args
}

/// The Kubernetes files of a sharded audit, run as written (the plan Job, the eight
/// shards with the index Kubernetes sets, the merge Job) with the volumes' mount points
/// made local: the merge prints what one unsharded run prints.
#[test]
fn the_kubernetes_jobs_run_plan_shards_and_merge_as_written() {
    let store = repo().join("corpus/distribution/blob-digest-mismatch/store");
    let parts = tempfile::tempdir().unwrap();
    let local = |arg: &str, index: &str| {
        arg.replace("/var/lib/registry", store.to_str().unwrap())
            .replace("/parts", parts.path().to_str().unwrap())
            .replace("$(JOB_COMPLETION_INDEX)", index)
    };
    let run_job = |file: &str, index: &str| {
        let args: Vec<String> = job_args(file).iter().map(|a| local(a, index)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_env(&args, &[("JOB_COMPLETION_INDEX", index)])
    };
    let plan = run_job("deploy/kubernetes/sharded-plan.yaml", "");
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let shards =
        std::fs::read_to_string(repo().join("deploy/kubernetes/sharded-audit.yaml")).unwrap();
    assert!(shards.contains("completions: 8"));
    for i in 0..8 {
        let shard = run_job("deploy/kubernetes/sharded-audit.yaml", &i.to_string());
        assert_eq!(shard.code, 0, "shard {i}: {}", shard.stderr);
    }
    let merged = run_job("deploy/kubernetes/sharded-merge.yaml", "");
    let whole = run(&["--format", "json", store.to_str().unwrap()]);
    assert_eq!(merged.code, whole.code, "{}", merged.stderr);
    assert_eq!(normalize(&merged.stdout), normalize(&whole.stdout));
}
