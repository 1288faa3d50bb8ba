//! The HTML report (issue 32): for every kind of corpus report (a layout with findings, a
//! tree of layouts, a Distribution root with reclaimable bytes, a zot root, an image
//! archive, a store with signatures, SBOMs and an orphaned referrer, a multi-platform index, a run with a ledger's history, a merge of shards) the
//! page is written whole with `--output`, names nothing to fetch, and holds the JSON
//! report's findings; then, in a real browser (Debian's chromium and chromium-driver,
//! driven by Selenium from PyPI through `tests/browser/check_report.py`), each page loads
//! with no console error and no network request, its rows and rule ids are the JSON's,
//! filtering by a rule leaves only that rule, and its coverage holds the JSON's
//! platforms. A screenshot of each is written to `target/tmp/report-screenshots/`.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::registry::program;
use crate::support::{repo, run};

/// One report kind: its name, the arguments of the audit, and its files.
struct Case {
    name: &'static str,
    html: PathBuf,
    json: PathBuf,
}

/// Audits `args` twice, as JSON and as a page, both written with `--output`.
fn both(dir: &Path, name: &'static str, args: &[&str]) -> Case {
    let html = dir.join(format!("{name}.html"));
    let json = dir.join(format!("{name}.json"));
    for (format, file) in [("json", &json), ("html", &html)] {
        let mut all = vec!["--format", format, "--output", file.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = run(&all);
        assert!(out.code < 2, "{name} {format}: {}", out.stderr);
        assert!(
            out.stdout.is_empty(),
            "{name}: --output writes nothing to stdout"
        );
    }
    Case { name, html, json }
}

fn cases(dir: &Path) -> Vec<Case> {
    let corpus = repo().join("corpus");
    let path = |p: &str| corpus.join(p).to_str().unwrap().to_owned();
    let registry = path("distribution/registry-2.8/store");
    let mut cases = vec![
        both(
            dir,
            "layout-findings",
            &[&path("layout/descriptor-size-mismatch/store")],
        ),
        both(dir, "layouts-tree", &[&path("clean/many-layouts/store")]),
        both(dir, "distribution", &[&registry]),
        both(
            dir,
            "zot",
            &["--zot", &path("zot/blob-marker-unresolved/store")],
        ),
        both(
            dir,
            "archive",
            &[&path("archive/docker-multiplatform-amd64.tar")],
        ),
        both(
            dir,
            "supply-chain",
            &[&path("referrers/referrer-tag-orphaned/store")],
        ),
        both(
            dir,
            "multi-platform",
            &[
                "--coverage",
                "full",
                &path("clean/skopeo-multiplatform/store"),
            ],
        ),
    ];
    // With a ledger, the page charts its runs.
    let ledger = dir.join("ledger.db");
    let state = ["--state", ledger.to_str().unwrap(), registry.as_str()];
    assert!(run(&state).code < 2);
    cases.push(both(dir, "ledger", &state));
    // A merge of shards is rendered as an audit is.
    let parts: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("part-{i}.json"))).collect();
    for (i, part) in parts.iter().enumerate() {
        let shard = format!("{i}/2");
        let out = run(&[
            "--shard",
            &shard,
            "--partial",
            part.to_str().unwrap(),
            &registry,
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let (html, json) = (dir.join("merge.html"), dir.join("merge.json"));
    for (format, file) in [("json", &json), ("html", &html)] {
        let out = run(&[
            "merge",
            parts[0].to_str().unwrap(),
            parts[1].to_str().unwrap(),
            "--format",
            format,
            "--output",
            file.to_str().unwrap(),
        ]);
        assert!(out.code < 2, "merge {format}: {}", out.stderr);
    }
    cases.push(Case {
        name: "merge",
        html,
        json,
    });
    cases
}

/// What every page must be without a browser: self-contained, whole, and the JSON's.
fn check_page(case: &Case) {
    let page = fs::read_to_string(&case.html).unwrap();
    let report: Value = serde_json::from_str(&fs::read_to_string(&case.json).unwrap()).unwrap();
    let name = case.name;
    assert!(
        page.starts_with("<!doctype html>") && page.ends_with("</html>\n"),
        "{name}"
    );
    assert!(
        page.contains("content=\"default-src 'none';"),
        "{name}: no Content-Security-Policy"
    );
    for fetch in [
        "src=",
        "href=\"http",
        "href=\"//",
        "url(",
        "@import",
        "@font-face",
    ] {
        assert!(
            !page.contains(fetch),
            "{name}: the page names something to fetch ({fetch})"
        );
    }
    let rules: Vec<&str> = page
        .split("<tr class=\"finding ")
        .skip(1)
        .filter_map(|row| row.split("data-rule=\"").nth(1)?.split('"').next())
        .collect();
    let mut expected: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    let mut found = rules.clone();
    expected.sort_unstable();
    found.sort_unstable();
    assert_eq!(
        found, expected,
        "{name}: the page's findings are not the JSON's"
    );
    // The supply-chain table holds the JSON's tags, and its orphans, when anything
    // refers to anything.
    let chain = &report["supply_chain"];
    let summary = &chain["summary"];
    let has_referrers = summary["referrers"] != 0 || summary["orphans"] != 0;
    assert_eq!(
        page.contains("<section id=\"supply-chain\">"),
        has_referrers,
        "{name}: the supply-chain section"
    );
    if has_referrers {
        let table = page
            .split("<table id=\"supply-chain-tags\">")
            .nth(1)
            .unwrap();
        let table = table.split("</table>").next().unwrap();
        let rows = table.matches("<tr><td>").count();
        assert_eq!(rows, chain["tags"].as_array().unwrap().len(), "{name}");
        let orphans = page
            .split("<table id=\"supply-chain-orphans\">")
            .nth(1)
            .map_or(0, |t| {
                t.split("</table>")
                    .next()
                    .unwrap()
                    .matches("<tr><td>")
                    .count()
            });
        assert_eq!(
            orphans,
            chain["orphans"].as_array().unwrap().len(),
            "{name}"
        );
    }
    let mode = fs::metadata(&case.html).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "{name}: the page is not world-readable");
}

#[test]
fn html_reports_are_whole_self_contained_and_checked_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases(dir.path());
    for case in &cases {
        check_page(case);
    }
    let ledger = fs::read_to_string(dir.path().join("ledger.html")).unwrap();
    assert!(
        ledger.contains("<section id=\"runs\">"),
        "the ledger's runs are charted"
    );
    let registry = fs::read_to_string(dir.path().join("distribution.html")).unwrap();
    assert!(registry.contains("<section id=\"reclaimable\">"));
    // --output is refused inside the audited tree.
    let store = dir.path().join("store");
    crate::support::copy_tree(&repo().join("corpus/clean/umoci-multilayer/store"), &store);
    let inside = store.join("report.html");
    let out = run(&[
        "--format",
        "html",
        "--output",
        inside.to_str().unwrap(),
        store.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--output") && !inside.exists(),
        "{}",
        out.stderr
    );
    // A report that cannot be written is exit 2, naming the file, whatever the audit found.
    let nowhere = dir.path().join("no-such-directory/report.html");
    let clean = repo().join("corpus/clean/umoci-multilayer/store");
    let out = run(&[
        "--format",
        "html",
        "--output",
        nowhere.to_str().unwrap(),
        clean.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("no-such-directory/report.html"),
        "{}",
        out.stderr
    );

    // The browser.
    let python = std::env::var("OCI_AUDIT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let has_selenium = Command::new(&python)
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    if program("chromium").is_none() || program("chromedriver").is_none() {
        return;
    }
    if !has_selenium {
        assert!(
            std::env::var_os("OCI_AUDIT_REQUIRE_TOOLS").is_none(),
            "{python} has no selenium (OCI_AUDIT_REQUIRE_TOOLS is set; set OCI_AUDIT_PYTHON)"
        );
        eprintln!("SKIPPED: {python} has no selenium");
        return;
    }
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    let mut args = vec![
        repo()
            .join("tests/browser/check_report.py")
            .to_str()
            .unwrap()
            .to_owned(),
        shots.to_str().unwrap().to_owned(),
    ];
    args.extend(
        cases
            .iter()
            .map(|c| format!("{}={},{}", c.name, c.html.display(), c.json.display())),
    );
    let out = Command::new(&python).args(&args).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked: BTreeSet<&str> = said.lines().filter_map(|l| l.split(':').next()).collect();
    assert_eq!(checked.len(), cases.len(), "{said}");
    eprintln!("screenshots of the pages: {}", shots.display());
}
