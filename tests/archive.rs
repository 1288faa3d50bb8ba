//! Image archives: skopeo's committed archives (`corpus/archive/`, made by
//! `corpus/tools/make-archives.sh`) audit clean, plain or compressed, from a file or stdin;
//! every corpus layout tarred gives the directory's findings; every tar-level fault is a
//! finding; the Docker view's checks each fire on an archive altered to break them.

use std::collections::BTreeSet;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oci_audit::archive::{self, ReadOptions};
use oci_audit::audit::{RunOptions, audit_backend};
use oci_audit::backend::Backend;
use oci_audit::{NoProgress, Options, Report};
use serde_json::Value;

use crate::corpus::{cases, read_case};
use crate::support::{binary, repo, rule_ids, run};

fn options() -> Options {
    Options {
        run: RunOptions {
            settle: std::time::Duration::ZERO,
            ..RunOptions::default()
        },
        ..Options::default()
    }
}

fn read_options() -> ReadOptions {
    ReadOptions {
        threads: 2,
        max_document_size: Options::default().check.max_document_size,
        max_members: archive::MAX_MEMBERS,
        max_kept: archive::MAX_KEPT,
    }
}

/// Audits the archive `bytes` through the library, as `oci-audit FILE` does.
fn audit_bytes(bytes: &[u8]) -> Result<Report, oci_audit::Error> {
    audit_bytes_with(bytes, read_options())
}

fn audit_bytes_with(bytes: &[u8], read: ReadOptions) -> Result<Report, oci_audit::Error> {
    let backend = archive::read_from("test.tar", Cursor::new(bytes), read, &|_| {})?;
    audit_backend(&backend, "test.tar", &options(), &NoProgress)
}

/// A tar of the directory `dir` (symlinks kept as symlinks), as `tar -C dir -cf - .`
/// would write it.
fn tar_of(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Deterministic);
    builder.append_dir_all(".", dir).unwrap();
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    ::zstd::encode_all(bytes, 3).unwrap()
}

/// Findings as comparable JSON, leaving out what only an archive can have.
fn findings_json(report: &Report) -> Vec<Value> {
    report
        .findings
        .iter()
        .filter(|f| !f.rule.id().starts_with("archive-"))
        .map(|f| serde_json::to_value(f).unwrap())
        .collect()
}

fn ids(report: &Report) -> BTreeSet<&'static str> {
    report.findings.iter().map(|f| f.rule.id()).collect()
}

#[test]
fn every_corpus_layout_tarred_gives_the_directory_findings() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for dir in cases() {
        let case = read_case(&dir);
        let group = dir.parent().unwrap().file_name().unwrap();
        let layouts = ["layout", "clean", "compat", "referrers"];
        if case.zot || !layouts.iter().any(|g| group == *g) {
            continue;
        }
        let store = dir.join("store");
        let whole = oci_audit::audit(&store, &options(), &NoProgress).unwrap();
        let tar = tar_of(&store);
        for (label, bytes) in [
            ("tar", tar.clone()),
            ("gzip", gzip(&tar)),
            ("zstd", zstd(&tar)),
        ] {
            let report = match audit_bytes(&bytes) {
                Ok(report) => report,
                Err(error) => {
                    failures.push(format!("{} ({label}): {error}", dir.display()));
                    continue;
                }
            };
            if findings_json(&report) != findings_json(&whole) {
                failures.push(format!(
                    "{} ({label}): directory {:?}\narchive {:?}",
                    dir.display(),
                    findings_json(&whole),
                    findings_json(&report)
                ));
            }
            if report.coverage != whole.coverage
                || report.exit_code(&options().run.policy) != whole.exit_code(&options().run.policy)
            {
                failures.push(format!(
                    "{} ({label}): coverage or exit code differ",
                    dir.display()
                ));
            }
            compared += 1;
        }
    }
    assert!(compared > 150, "only {compared} archives compared");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn corpus_archive(name: &str) -> PathBuf {
    repo().join("corpus/archive").join(name)
}

#[test]
fn skopeo_archives_audit_clean_plain_compressed_and_from_stdin() {
    for (name, kind, root) in [
        ("oci-single.tar", "oci-layout", None),
        ("oci-multiplatform.tar", "oci-layout", None),
        (
            "docker-single.tar",
            "docker-archive",
            Some("example.com/audit/single:1.0"),
        ),
        (
            "docker-multiplatform-amd64.tar",
            "docker-archive",
            Some("example.com/audit/multi:latest"),
        ),
    ] {
        let path = corpus_archive(name);
        let out = run(&["--format", "json", path.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{name}: {}{}", out.stdout, out.stderr);
        let json: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(json["store"]["kind"], kind, "{name}");
        let errors_or_warnings = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "info")
            .count();
        assert_eq!(errors_or_warnings, 0, "{name}: {}", out.stdout);
        // One coverage entry: the index entry, or the RepoTag with its config's platform.
        let coverage = json["coverage"].as_array().unwrap();
        assert_eq!(coverage.len(), 1, "{name}");
        if let Some(root) = root {
            assert_eq!(coverage[0]["root"], root, "{name}");
            assert_eq!(coverage[0]["pointer"], "/0/RepoTags/0", "{name}");
            assert_eq!(
                coverage[0]["platforms"][0]["architecture"], "amd64",
                "{name}"
            );
        }
        if kind == "docker-archive" {
            // skopeo's legacy <id>/layer.tar symlinks are reported, and nothing else is.
            let rules: BTreeSet<String> = rule_ids(&out.stdout).into_iter().collect();
            assert_eq!(
                rules,
                BTreeSet::from(["archive-member-link".to_owned()]),
                "{name}"
            );
            assert!(json["stats"]["documents"].as_u64().unwrap() >= 3);
        } else {
            assert!(
                json["stats"]["bytes_verified"].as_u64().unwrap() > 0,
                "{name}"
            );
        }
    }
    // Compression is recognised by content, whatever the name says; stdin reads the same.
    let plain = |name: &str| {
        let out = run(&["--format", "json", corpus_archive(name).to_str().unwrap()]);
        strip_volatile(&out.stdout)
    };
    for (variant, of) in [
        ("oci-single.tar.gz", "oci-single.tar"),
        ("oci-single.tar.zst", "oci-single.tar"),
        ("oci-single-gzip.tar", "oci-single.tar"),
        ("docker-single.tar.gz", "docker-single.tar"),
        ("docker-single.tar.zst", "docker-single.tar"),
    ] {
        assert_eq!(plain(variant), plain(of), "{variant} against {of}");
    }
    for name in ["oci-multiplatform.tar", "docker-single.tar.zst"] {
        let mut child = Command::new(binary())
            .args(["--format", "json", "-"])
            .stdin(std::fs::File::open(corpus_archive(name)).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0), "{name} from stdin");
        assert_eq!(strip_volatile(&stdout), plain(name), "{name} from stdin");
    }
}

#[test]
fn an_archive_is_never_extracted_nor_anything_written() {
    // Whatever the audit reads, from a file or a pipe, no file appears anywhere it could
    // write: not beside the archive, not in the working or temporary directory.
    let dir = tempfile::tempdir().unwrap();
    let (work, temp) = (dir.path().join("work"), dir.path().join("tmp"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&temp).unwrap();
    let archive = dir.path().join("image.tar.zst");
    std::fs::copy(corpus_archive("docker-single.tar.zst"), &archive).unwrap();
    let before = crate::support::snapshot(dir.path(), true);
    let out = Command::new(binary())
        .args(["-q", archive.to_str().unwrap()])
        .current_dir(&work)
        .env("TMPDIR", &temp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let piped = Command::new(binary())
        .args(["-q", "-"])
        .current_dir(&work)
        .env("TMPDIR", &temp)
        .stdin(std::fs::File::open(&archive).unwrap())
        .output()
        .unwrap();
    assert_eq!(piped.status.code(), Some(0));
    assert_eq!(crate::support::snapshot(dir.path(), true), before);
}

#[test]
fn a_named_pipe_is_read_as_an_archive() {
    // `oci-audit <(docker save app)` names a pipe: it is read once, like stdin.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("image.pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let bytes = std::fs::read(corpus_archive("docker-single.tar.gz")).unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .unwrap()
                .write_all(&bytes)
                .unwrap();
        })
    };
    let out = run(&["--format", "json", fifo.to_str().unwrap()]);
    writer.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = run(&[
        "--format",
        "json",
        corpus_archive("docker-single.tar").to_str().unwrap(),
    ]);
    assert_eq!(
        strip_volatile(&out.stdout),
        strip_volatile(&expected.stdout)
    );
}

/// The report without what differs between two runs of one archive (the name, the time).
fn strip_volatile(json: &str) -> Value {
    let mut value: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    value["store"]["path"] = Value::Null;
    value["stats"]["elapsed_ms"] = Value::Null;
    value
}

#[test]
fn what_is_not_an_archive_or_cannot_be_used_with_one_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello\n".repeat(200)).unwrap();
    let out = run(&[text.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("not an image archive"),
        "{}",
        out.stderr
    );
    let xz = dir.path().join("image.tar.xz");
    std::fs::write(&xz, b"\xfd7zXZ\x00rest").unwrap();
    let out = run(&[xz.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("xz"), "{}", out.stderr);
    let archive = corpus_archive("oci-single.tar");
    let state = dir.path().join("ledger.db");
    for extra in [
        vec!["--state", state.to_str().unwrap()],
        vec![
            "--shard",
            "0/2",
            "--partial",
            dir.path().join("p.json").to_str().unwrap(),
        ],
    ] {
        let mut args = extra.clone();
        args.push(archive.to_str().unwrap());
        let out = run(&args);
        assert_eq!(out.code, 2, "{extra:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("read whole in one pass"),
            "{}",
            out.stderr
        );
    }
}

/// A tar built member by member: (name, type flag, content, link target).
struct Raw(tar::Builder<Vec<u8>>);

impl Raw {
    fn new() -> Raw {
        Raw(tar::Builder::new(Vec::new()))
    }

    fn file(mut self, name: &str, data: &[u8]) -> Raw {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        // Set by bytes: the builder's own path checks refuse `..` and absolute names.
        set_name(&mut header, name);
        header.set_cksum();
        self.0.append(&header, data).unwrap();
        self
    }

    fn special(mut self, name: &str, kind: tar::EntryType, link: &str) -> Raw {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_mode(0o644);
        header.set_entry_type(kind);
        set_name(&mut header, name);
        header.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        self.0.append(&header, &[][..]).unwrap();
        self
    }

    /// Every member of the tar `bytes`, in order.
    fn copy_of(
        bytes: &[u8],
        skip: &dyn Fn(&str) -> bool,
        replace: &dyn Fn(&str, Vec<u8>) -> Vec<u8>,
    ) -> Raw {
        let mut raw = Raw::new();
        let mut archive = tar::Archive::new(bytes);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            if skip(&name) {
                continue;
            }
            let kind = entry.header().entry_type();
            if kind.is_file() {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                raw = raw.file(&name, &replace(&name, data));
            } else {
                let link = entry
                    .link_name_bytes()
                    .map(|l| String::from_utf8(l.into_owned()).unwrap())
                    .unwrap_or_default();
                raw = raw.special(&name, kind, &link);
            }
        }
        raw
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn set_name(header: &mut tar::Header, name: &str) {
    let field = &mut header.as_gnu_mut().unwrap().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

/// The content of the member `name` of the tar `archive`.
fn member_of(archive: &[u8], name: &str) -> Vec<u8> {
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path_bytes().as_ref() == name.as_bytes() {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            return data;
        }
    }
    panic!("no member {name}");
}

fn oci_single() -> Vec<u8> {
    std::fs::read(corpus_archive("oci-single.tar")).unwrap()
}

fn docker_single() -> Vec<u8> {
    std::fs::read(corpus_archive("docker-single.tar")).unwrap()
}

/// The finding of `rule` in `report`, whose message must say `says`.
fn finding<'r>(report: &'r Report, rule: &str, says: &str) -> &'r oci_audit::Finding {
    report
        .findings
        .iter()
        .find(|f| f.rule.id() == rule && f.message.contains(says))
        .unwrap_or_else(|| panic!("no {rule} saying {says:?} in {:#?}", report.findings))
}

#[test]
fn unsafe_names_links_devices_and_duplicates_are_findings_and_the_rest_is_audited() {
    let bytes = Raw::copy_of(&oci_single(), &|_| false, &|_, data| data)
        .file("../escape", b"x")
        .file("/etc/cron.d/evil", b"x")
        .file("blobs/../../up", b"x")
        .file("blobs/../inside", b"x")
        .special("inside-link", tar::EntryType::Symlink, "index.json")
        .special("outside-link", tar::EntryType::Symlink, "../../etc/passwd")
        .special("absolute-link", tar::EntryType::Symlink, "/etc/passwd")
        .special("hard", tar::EntryType::Link, "oci-layout")
        .special("hard-out", tar::EntryType::Link, "../x")
        .special("dev/null", tar::EntryType::Char, "")
        .special("fifo", tar::EntryType::Fifo, "")
        .file("index.json", b"{\"schemaVersion\":2,\"manifests\":[]}")
        .bytes();
    let report = audit_bytes(&bytes).unwrap();
    for (rule, says) in [
        ("archive-member-unsafe", "its name holds a .. component"),
        ("archive-member-unsafe", "its name is absolute"),
        (
            "archive-member-unsafe",
            "a symlink to ../../etc/passwd, which climbs out",
        ),
        (
            "archive-member-unsafe",
            "a symlink to /etc/passwd, which is absolute",
        ),
        ("archive-member-unsafe", "a hard link to ../x"),
        (
            "archive-member-link",
            "a symlink to index.json, inside the archive",
        ),
        ("archive-member-link", "a hard link to oci-layout"),
        ("archive-member-special", "a device node"),
        ("archive-member-special", "a FIFO"),
        ("archive-member-duplicate", "the last read whole"),
    ] {
        finding(&report, rule, says);
    }
    let unsafe_paths: BTreeSet<String> = report
        .findings
        .iter()
        .filter(|f| f.rule.id() == "archive-member-unsafe")
        .map(|f| f.location.path.lossy().into_owned())
        .collect();
    assert!(unsafe_paths.contains("../escape") && unsafe_paths.contains("/etc/cron.d/evil"));
    // The duplicate index.json: the last one (empty) was audited, so the manifest it no
    // longer lists is unreferenced; and the rest of the archive was audited.
    let duplicate = finding(&report, "archive-member-duplicate", "2 members");
    assert_eq!(duplicate.location.path.lossy(), "index.json");
    assert!(
        ids(&report).contains("blob-unreferenced"),
        "{:?}",
        ids(&report)
    );
    assert!(report.stats.blobs >= 5);
}

#[test]
fn a_truncated_or_corrupt_archive_is_a_finding_and_what_came_before_is_audited() {
    let tar = oci_single();
    // Cut inside the last members: what was read whole is audited, what was cut is missing.
    let cut = &tar[..tar.len() - 3000];
    let report = audit_bytes(cut).unwrap();
    finding(&report, "archive-truncated", "");
    assert_eq!(report.exit_code(&options().run.policy), 1);
    // Cut exactly where the end-of-archive blocks start (the builder writes no padding).
    let rebuilt = Raw::copy_of(&tar, &|_| false, &|_, d| d).bytes();
    let report = audit_bytes(&rebuilt[..rebuilt.len() - 1024]).unwrap();
    finding(
        &report,
        "archive-truncated",
        "without its end-of-archive blocks",
    );
    assert_eq!(report.stats.blobs, 5, "every member was read whole");
    // A gzip stream with bytes flipped in its middle, and one cut short.
    let mut corrupt = gzip(&tar);
    let middle = corrupt.len() / 2;
    for byte in &mut corrupt[middle..middle + 16] {
        *byte ^= 0x5a;
    }
    let report = audit_bytes(&corrupt).unwrap();
    finding(&report, "archive-corrupt", "(gzip-compressed)");
    let compressed = gzip(&tar);
    let report = audit_bytes(&compressed[..compressed.len() / 2]).unwrap();
    finding(&report, "archive-truncated", "(gzip-compressed)");
    let compressed = zstd(&tar);
    let report = audit_bytes(&compressed[..compressed.len() / 2]).unwrap();
    finding(&report, "archive-truncated", "(zstd-compressed)");
    // A header whose checksum does not match, after the first members.
    let mut bad = tar.clone();
    let second = 512 * 2;
    bad[second..second + 100].copy_from_slice(&[b'z'; 100]);
    let report = audit_bytes(&bad).unwrap();
    finding(&report, "archive-corrupt", "checksum does not match");
}

#[test]
fn headers_and_member_counts_meant_to_exhaust_memory_are_refused() {
    // A GNU long name claiming a terabyte: refused before anything is allocated for it.
    let mut bytes = Vec::new();
    let mut header = tar::Header::new_gnu();
    set_name(&mut header, "././@LongLink");
    header.set_entry_type(tar::EntryType::GNULongName);
    header.set_size(1 << 40);
    header.set_cksum();
    bytes.extend_from_slice(header.as_bytes());
    let report = audit_bytes(&bytes).unwrap();
    finding(
        &report,
        "archive-limit",
        "a GNU long name of 1099511627776 bytes",
    );
    finding(&report, "archive-truncated", "");
    // A name over the limit, as a PAX record, inside an otherwise good archive.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(1);
    header.set_mode(0o644);
    header.set_path("short").unwrap();
    header.set_cksum();
    let long = format!("{}/x", "d".repeat(5000));
    builder
        .append_pax_extensions([("path", long.as_bytes())])
        .unwrap();
    builder.append(&header, &b"x"[..]).unwrap();
    let mut bytes = Raw::copy_of(&oci_single(), &|_| false, &|_, d| d).bytes();
    bytes.truncate(bytes.len() - 1024);
    bytes.extend_from_slice(&builder.into_inner().unwrap());
    let report = audit_bytes(&bytes).unwrap();
    finding(&report, "archive-limit", "over the 4096-byte limit");
    assert!(!ids(&report).contains("archive-corrupt"));
    // More members than allowed: the rest is not read, and that is said.
    let report = audit_bytes_with(
        &Raw::copy_of(&oci_single(), &|_| false, &|_, d| d).bytes()[..],
        ReadOptions {
            max_members: 4,
            ..read_options()
        },
    )
    .unwrap();
    finding(&report, "archive-limit", "more than 4 members");
}

#[test]
fn what_is_kept_in_memory_has_a_budget_that_runs_out_at_the_same_member_every_time() {
    // 40 members of 8 KiB that begin like JSON, with room for 10 of them: the same ten are
    // kept (in archive order) whatever the number of workers, and the rest are said so.
    let mut raw = Raw::copy_of(&oci_single(), &|_| false, &|_, d| d);
    for i in 0..40 {
        let mut document = b"{".to_vec();
        document.resize(8192, b' ');
        document.push(b'}');
        raw = raw.file(&format!("extra/{i:02}.json"), &document);
    }
    let bytes = raw.bytes();
    let kept = |threads: usize| {
        let read = ReadOptions {
            threads,
            max_kept: 10 * 8193 + 4096,
            ..read_options()
        };
        let backend = archive::read_from("test.tar", Cursor::new(&bytes), read, &|_| {}).unwrap();
        let said = backend
            .findings()
            .iter()
            .any(|f| f.rule.id() == "archive-limit" && f.message.contains("hashed but not kept"));
        assert!(said, "{threads} workers: the budget's end is a finding");
        (0..40)
            .map(|i| {
                let key = oci_audit::model::key::Key::from_bytes(
                    format!("extra/{i:02}.json").into_bytes(),
                );
                backend.read_small(&key, 1 << 20).is_ok()
            })
            .collect::<Vec<bool>>()
    };
    let one = kept(1);
    // The layout's own small files came first and took their share; then extra/ in order.
    let first_dropped = one.iter().position(|k| !k).expect("some were not kept");
    assert!(first_dropped >= 8, "{one:?}");
    assert!(
        one[first_dropped..].iter().all(|k| !k),
        "kept in archive order: {one:?}"
    );
    for threads in [2, 4, 8] {
        assert_eq!(kept(threads), one, "{threads} workers");
    }
}

#[test]
fn each_docker_check_fires_on_an_archive_altered_to_break_it() {
    let original = docker_single();
    let config = "28f0f4cf0e50772aa8ef5169b9e2d2d451a935754873d8802dc7d1497e4cb271.json";
    let top = "3d7ef1ceed1e65f455b873d401b543264ec8d6f4ff2b7cc7ca3704d02826e077.tar";
    let alter = |skip: &dyn Fn(&str) -> bool, replace: &dyn Fn(&str, Vec<u8>) -> Vec<u8>| {
        audit_bytes(&Raw::copy_of(&original, skip, replace).bytes()).unwrap()
    };
    // A layer whose content changed: its name's digest and its diff_id both disagree.
    let report = alter(&|_| false, &|name, mut data| {
        if name == top {
            data[600] ^= 1;
        }
        data
    });
    finding(&report, "docker-digest-mismatch", "its name says");
    finding(&report, "docker-diff-id-mismatch", "invalid diffID");
    // A missing layer and a missing config.
    let report = alter(&|name| name == top || name == config, &|_, d| d);
    assert_eq!(
        report
            .findings
            .iter()
            .filter(|f| f.rule.id() == "docker-member-missing")
            .count(),
        2,
        "{:#?}",
        report.findings
    );
    // Through the legacy symlink, a missing target is missing too.
    // A bad RepoTag, a repositories file that disagrees, and a manifest.json that is not
    // one.
    let report = alter(&|_| false, &|name, data| match name {
        "manifest.json" => String::from_utf8(data)
            .unwrap()
            .replace("example.com/audit/single:1.0", "Example.com/Audit/Single")
            .into_bytes(),
        "repositories" => br#"{"example.com/audit/other":{"2.0":"x"}}"#.to_vec(),
        _ => data,
    });
    finding(
        &report,
        "docker-repo-tag-invalid",
        "Example.com/Audit/Single",
    );
    finding(
        &report,
        "docker-repositories-mismatch",
        "example.com/audit/other:2.0",
    );
    let report = alter(&|_| false, &|name, data| {
        if name == "manifest.json" {
            b"{\"Config\":1}".to_vec()
        } else {
            data
        }
    });
    finding(&report, "docker-manifest-invalid", "not a JSON array");
    // diff_ids of another count.
    let report = alter(&|_| false, &|name, data| {
        if name == "manifest.json" {
            String::from_utf8(data)
                .unwrap()
                .replace(&format!(",\"{top}\""), "")
                .into_bytes()
        } else {
            data
        }
    });
    finding(&report, "docker-diff-id-mismatch", "differ in number");
}

/// A Docker 25+ archive: the OCI layout of `oci-single.tar` with a manifest.json naming
/// its config and layers by `blobs/sha256/<hex>` (as `docker save` does since 25; the
/// layers here are gzip, as the containerd image store's are).
fn docker25(layers_reversed: bool) -> Vec<u8> {
    let oci = oci_single();
    let mut archive = tar::Archive::new(&oci[..]);
    let mut index_json = Vec::new();
    let mut blobs = std::collections::HashMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if name == "index.json" {
            index_json = data;
        } else if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            blobs.insert(hex.to_owned(), data);
        }
    }
    let index: Value = serde_json::from_slice(&index_json).unwrap();
    let manifest_hex = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    let manifest: Value = serde_json::from_slice(&blobs[manifest_hex]).unwrap();
    let path = |d: &Value| {
        format!(
            "blobs/sha256/{}",
            d["digest"]
                .as_str()
                .unwrap()
                .strip_prefix("sha256:")
                .unwrap()
        )
    };
    let mut layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(path)
        .collect();
    if layers_reversed {
        layers.reverse();
    }
    let docker = serde_json::json!([{
        "Config": path(&manifest["config"]),
        "RepoTags": ["example.com/audit/single:1.0"],
        "Layers": layers,
    }]);
    Raw::copy_of(&oci, &|_| false, &|_, d| d)
        .file("manifest.json", docker.to_string().as_bytes())
        .bytes()
}

#[test]
fn a_docker_25_archive_is_audited_as_both_views_which_must_agree() {
    let report = audit_bytes(&docker25(false)).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["store"]["kind"], "docker-archive");
    let kinds: Vec<&str> = json["store"]["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["oci-layout", "docker-archive"]);
    // Both views cover the image: the OCI index entry and the RepoTag.
    assert_eq!(report.coverage.len(), 2, "{:#?}", report.coverage);
    assert_eq!(
        ids(&report),
        BTreeSet::from(["docker-diff-id-unverified"]),
        "{:#?}",
        report.findings
    );
    let report = audit_bytes(&docker25(true)).unwrap();
    finding(&report, "docker-oci-mismatch", "other layers");
}

#[test]
fn large_members_of_a_file_are_read_where_they_lie_with_the_same_findings_as_a_pipe() {
    // Layers of 3 MiB and more are read by the workers from the file (several at once);
    // from a pipe everything streams. Both must say the same, clean, corrupt or cut.
    let layout = crate::support::Layout::new();
    let layers: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            (0..(3 << 20) + usize::from(i) * 4099)
                .map(|j| (j % 251) as u8 ^ i)
                .collect()
        })
        .collect();
    let images: Vec<(String, usize)> = layers
        .iter()
        .enumerate()
        .map(|(i, layer)| layout.image(&format!("arch{i}"), layer))
        .collect();
    let entries: Vec<(&str, usize, &str)> = images
        .iter()
        .zip(["a", "b", "c"])
        .map(|((d, s), name)| (d.as_str(), *s, name))
        .collect();
    layout.index_json(&entries);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("image.tar");
    let tar = tar_of(layout.path());
    let reports = |bytes: &[u8]| {
        std::fs::write(&file, bytes).unwrap();
        let from_file = run(&["--format", "json", file.to_str().unwrap()]);
        let mut child = Command::new(binary())
            .args(["--format", "json", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let owned = bytes.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&owned);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let from_pipe = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            from_file.code,
            out.status.code().unwrap(),
            "{}",
            from_file.stdout
        );
        let (a, b) = (
            strip_volatile(&from_file.stdout),
            strip_volatile(&from_pipe),
        );
        assert_eq!(a["findings"], b["findings"]);
        assert_eq!(a["stats"], b["stats"]);
        (from_file.code, a)
    };
    let (code, clean) = reports(&tar);
    assert_eq!(code, 0, "{clean}");
    assert_eq!(clean["stats"]["bytes_verified"], clean["stats"]["bytes"]);
    // A flipped byte deep inside the second layer.
    let offset = find(&tar, &layers[1]).unwrap() + (2 << 20);
    let mut corrupt = tar.clone();
    corrupt[offset] ^= 0xff;
    let (code, report) = reports(&corrupt);
    assert_eq!(code, 1);
    let rules: BTreeSet<String> = rule_ids(&report.to_string()).into_iter().collect();
    assert_eq!(
        rules,
        BTreeSet::from(["blob-digest-mismatch".to_owned()]),
        "{report}"
    );
    // Cut inside that layer: everything before it is audited, it is missing.
    let (code, report) = reports(&tar[..offset]);
    assert_eq!(code, 1);
    let rules: BTreeSet<String> = rule_ids(&report.to_string()).into_iter().collect();
    assert!(rules.contains("archive-truncated"), "{report}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(64).position(|w| w == &needle[..64])
}

/// `index.json` of `archive`, changed by `change`, with any extra members added.
fn with_index(archive: &[u8], change: &dyn Fn(&mut Value), extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut raw = Raw::copy_of(archive, &|_| false, &|name, data| {
        if name == "index.json" {
            let mut index: Value = serde_json::from_slice(&data).unwrap();
            change(&mut index);
            index.to_string().into_bytes()
        } else {
            data
        }
    });
    for (name, data) in extra {
        raw = raw.file(name, data);
    }
    raw.bytes()
}

fn blob_entry(bytes: &[u8], media_type: &str) -> (String, Value) {
    let digest = crate::support::sha256(bytes);
    let name = format!("blobs/sha256/{}", digest.strip_prefix("sha256:").unwrap());
    let descriptor =
        serde_json::json!({"mediaType": media_type, "digest": digest, "size": bytes.len()});
    (name, descriptor)
}

#[test]
fn a_docker_25_archive_is_compared_both_ways_and_names_against_repo_tags() {
    let archive = docker25(false);
    // An index.json entry for an image manifest.json does not list.
    let config =
        br#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let (config_name, config_descriptor) =
        blob_entry(config, "application/vnd.oci.image.config.v1+json");
    let layer = b"another layer";
    let (layer_name, layer_descriptor) =
        blob_entry(layer, "application/vnd.oci.image.layer.v1.tar");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_descriptor,
        "layers": [layer_descriptor],
    })
    .to_string();
    let (manifest_name, manifest_descriptor) = blob_entry(
        manifest.as_bytes(),
        "application/vnd.oci.image.manifest.v1+json",
    );
    let extra = [
        (config_name.as_str(), config.to_vec()),
        (layer_name.as_str(), layer.to_vec()),
        (manifest_name.as_str(), manifest.into_bytes()),
    ];
    let added = with_index(
        &archive,
        &|index| {
            index["manifests"]
                .as_array_mut()
                .unwrap()
                .push(manifest_descriptor.clone())
        },
        &extra,
    );
    let report = audit_bytes(&added).unwrap();
    let lonely = finding(&report, "docker-oci-mismatch", "no manifest.json entry has");
    assert_eq!(
        lonely.location.via.as_ref().unwrap().pointer,
        "/manifests/1"
    );
    // Names: the index entry names the image differently from its RepoTag.
    let named = with_index(
        &archive,
        &|index| {
            index["manifests"][0]["annotations"] =
                serde_json::json!({"io.containerd.image.name": "example.com/audit/other:2.0"});
        },
        &[],
    );
    let report = audit_bytes(&named).unwrap();
    finding(
        &report,
        "docker-oci-mismatch",
        "names example.com/audit/other:2.0, which no manifest.json RepoTags has",
    );
    finding(
        &report,
        "docker-oci-mismatch",
        "tags example.com/audit/single:1.0, which no index.json entry names",
    );
    let agreeing = with_index(
        &archive,
        &|index| {
            index["manifests"][0]["annotations"] =
                serde_json::json!({"io.containerd.image.name": "example.com/audit/single:1.0"});
        },
        &[],
    );
    let report = audit_bytes(&agreeing).unwrap();
    assert!(
        !ids(&report).contains("docker-oci-mismatch"),
        "{:#?}",
        report.findings
    );
}

#[test]
fn a_fan_of_indexes_is_read_once_per_document() {
    // Nine levels of indexes, each naming the next twelve times: 12^8 paths to one
    // manifest, through 10 documents.
    let archive = docker25(false);
    let index: Value = serde_json::from_slice(&member_of(&oci_single(), "index.json")).unwrap();
    let mut child = index["manifests"][0].clone();
    let mut extra = Vec::new();
    for _ in 0..9 {
        let level = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": vec![child.clone(); 12],
        })
        .to_string();
        let (name, descriptor) =
            blob_entry(level.as_bytes(), "application/vnd.oci.image.index.v1+json");
        extra.push((name, level.into_bytes()));
        child = descriptor;
    }
    let extra: Vec<(&str, Vec<u8>)> = extra.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let fanned = with_index(
        &archive,
        &|index| {
            index["manifests"]
                .as_array_mut()
                .unwrap()
                .push(child.clone())
        },
        &extra,
    );
    // Read per path, this would not finish (12^8 documents); read once each, it is 10.
    let report = audit_bytes(&fanned).unwrap();
    assert!(
        !ids(&report).contains("docker-oci-mismatch"),
        "{:#?}",
        report.findings
    );
}

#[test]
fn diff_ids_that_are_not_digests_or_of_another_algorithm_are_said_so() {
    let original = docker_single();
    let config = "28f0f4cf0e50772aa8ef5169b9e2d2d451a935754873d8802dc7d1497e4cb271.json";
    let bytes = Raw::copy_of(&original, &|_| false, &|name, data| {
        if name != config {
            return data;
        }
        let mut value: Value = serde_json::from_slice(&data).unwrap();
        value["rootfs"]["diff_ids"][0] = Value::from("sha256:XYZ");
        value["rootfs"]["diff_ids"][1] = Value::from(format!("sha512:{}", "a".repeat(128)));
        value.to_string().into_bytes()
    })
    .bytes();
    let report = audit_bytes(&bytes).unwrap();
    finding(
        &report,
        "docker-diff-id-mismatch",
        "rootfs.diff_ids/0 is not a digest",
    );
    finding(
        &report,
        "docker-diff-id-unverified",
        "is sha512, and the pass hashed the layer as sha256",
    );
    finding(&report, "docker-digest-mismatch", "its name says");
}

/// An archive was read whole, once: nothing in it can change under the audit, so no
/// finding is re-read after a settle time (a directory's findings are), and the report
/// says none was confirmed.
#[test]
fn nothing_is_confirmed_or_waited_for_in_an_archive() {
    let store = repo().join("corpus/layout/blob-digest-mismatch/store");
    let whole = oci_audit::audit(&store, &options(), &NoProgress).unwrap();
    assert!(
        whole.stats.confirmed > 0,
        "the directory's mismatch is re-checked"
    );
    let report = audit_bytes(&tar_of(&store)).unwrap();
    assert_eq!(findings_json(&report), findings_json(&whole));
    assert_eq!(report.stats.confirmed, 0);
    assert_eq!(report.stats.changed, 0);
}

/// `oci-audit -` with a terminal on standard input refuses at once (exit 2) instead of
/// waiting for a tar nobody will type. Run under a pseudo-terminal made by python's pty.
#[test]
fn a_terminal_on_standard_input_is_refused() {
    let Some(python) = crate::support::registry::program("python3") else {
        return;
    };
    let script = r#"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-"])
out, deadline = b"", time.time() + 20
while time.time() < deadline:
    if select.select([fd], [], [], 0.1)[0]:
        try:
            out += os.read(fd, 4096)
        except OSError:
            pass
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print(os.waitstatus_to_exitcode(status))
        print(out.decode(errors="replace"))
        sys.exit(0)
os.kill(pid, 9)
print("still waiting")
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, crate::support::binary()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("2"), "{text}");
    assert!(text.contains("standard input is a terminal"), "{text}");
}

/// An archive's one shard (`--shard 0/1`, the only split an archive allows) merges into
/// the report the archive's audit prints: nothing confirmed, since nothing was re-checked.
#[test]
fn an_archives_one_shard_merges_into_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("mismatch.tar");
    std::fs::write(
        &tar,
        tar_of(&repo().join("corpus/layout/blob-digest-mismatch/store")),
    )
    .unwrap();
    let part = dir.path().join("part.json");
    let tar_arg = tar.to_str().unwrap();
    let shard = run(&[
        "--shard",
        "0/1",
        "--partial",
        part.to_str().unwrap(),
        tar_arg,
    ]);
    assert_eq!(shard.code, 0, "{}", shard.stderr);
    let merged = run(&["merge", "--format", "json", part.to_str().unwrap()]);
    let whole = run(&["--format", "json", tar_arg]);
    assert_eq!(merged.code, whole.code);
    assert_eq!(
        strip_volatile(&merged.stdout),
        strip_volatile(&whole.stdout)
    );
    let merged: Value = serde_json::from_str(&merged.stdout).unwrap();
    assert_eq!(merged["stats"]["confirmed"], 0);
}
