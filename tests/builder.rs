//! Defects built at test time: what git cannot hold (FIFOs, symlinks out of the tree,
//! directories where files belong), what needs a deliberate digest mismatch (cycles), and
//! flag-dependent behaviour (size limits, --no-verify, mmap vs read, opt-in rules).

use std::fs;
use std::os::unix::fs::symlink;

use crate::support::{Layout, copy_tree, rule_ids, run, sha256};

fn mkfifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
}

fn audit_ids(layout: &Layout, extra: &[&str]) -> Vec<String> {
    let mut args = vec![layout.arg(), "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.code == 0 || out.code == 1, "{out:?}");
    rule_ids(&out.stdout)
}

fn valid_layout() -> (Layout, String) {
    let layout = Layout::new();
    let (manifest, size) = layout.image("amd64", b"a layer");
    layout.index_json(&[(&manifest, size, "v1")]);
    (layout, manifest)
}

#[test]
fn fifos_and_symlinks_under_blobs_are_reported_never_opened() {
    let (layout, _) = valid_layout();
    let outside = tempfile::tempdir().unwrap();
    // If the audit followed these links or opened these FIFOs it would block: the test
    // harness kills it after 60 s and fails.
    let outside_fifo = outside.path().join("fifo");
    mkfifo(&outside_fifo);
    let blobs = layout.path().join("blobs/sha256");
    mkfifo(&blobs.join(&sha256(b"fifo")[7..]));
    symlink(&outside_fifo, blobs.join(&sha256(b"link")[7..])).unwrap();
    symlink(outside.path(), layout.path().join("blobs/sha512")).unwrap();
    let out = run(&[layout.arg(), "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(rule_ids(&out.stdout), ["blob-not-regular"]);
    assert_eq!(
        out.stdout.matches("blob-not-regular").count(),
        3,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("a FIFO") && out.stdout.contains("a symlink (not followed)"));
}

#[test]
fn unreadable_and_odd_files_are_io_errors() {
    let (layout, _) = valid_layout();
    let outside = tempfile::tempdir().unwrap();
    fs::write(
        outside.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::remove_file(layout.path().join("oci-layout")).unwrap();
    symlink(
        outside.path().join("oci-layout"),
        layout.path().join("oci-layout"),
    )
    .unwrap();
    let out = run(&[layout.arg()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("error[io-error] oci-layout: is a symlink; not followed"),
        "{}",
        out.stdout
    );

    let (layout, _) = valid_layout();
    fs::remove_file(layout.path().join("index.json")).unwrap();
    fs::create_dir(layout.path().join("index.json")).unwrap();
    assert_eq!(audit_ids(&layout, &[]), ["io-error"]);

    // A FIFO where index.json belongs must not block either.
    let (layout, _) = valid_layout();
    fs::remove_file(layout.path().join("index.json")).unwrap();
    mkfifo(&layout.path().join("index.json"));
    assert_eq!(audit_ids(&layout, &[]), ["io-error"]);
}

#[test]
fn blobs_that_is_a_file_is_reported() {
    let (layout, _) = valid_layout();
    fs::remove_dir_all(layout.path().join("blobs")).unwrap();
    fs::write(layout.path().join("blobs"), b"").unwrap();
    assert_eq!(
        audit_ids(&layout, &[]),
        ["descriptor-blob-missing", "layout-blobs-missing"]
    );
}

#[test]
fn document_over_the_size_limit_is_not_parsed() {
    let (layout, _) = valid_layout();
    let ids = audit_ids(&layout, &["--max-document-size", "100"]);
    assert_eq!(ids, ["document-too-large"]);
    assert!(audit_ids(&layout, &[]).is_empty());
}

#[test]
fn documents_not_hashed_when_read_are_verified_like_any_blob() {
    // A config over the size limit (the manifest is under it) is not parsed, but its
    // content must still be checked.
    let layout = Layout::new();
    let (layer, layer_size) = layout.blob(b"x");
    let config = format!(
        r#"{{"author":"{}","architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#,
        "a".repeat(1000)
    );
    let (config_digest, config_size) = layout.blob(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_size}}}]}}"#
    );
    let (manifest_digest, manifest_size) = layout.blob(manifest.as_bytes());
    layout.index_json(&[(&manifest_digest, manifest_size, "v1")]);
    assert!(manifest_size < 600 && config_size > 600);
    let path = layout.path().join("blobs/sha256").join(&config_digest[7..]);
    fs::write(&path, config.replace("amd64", "arm64")).unwrap();
    assert_eq!(audit_ids(&layout, &[]), ["blob-digest-mismatch"]);
    assert_eq!(
        audit_ids(&layout, &["--max-document-size", "600"]),
        ["blob-digest-mismatch", "document-too-large"]
    );

    // A manifest under an algorithm we cannot compute is parsed, and said to be unverifiable.
    let layout = Layout::new();
    let (layer, layer_size) = layout.blob(b"x");
    let (config, config_size) = layout.blob(
        format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#).as_bytes(),
    );
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_size}}}]}}"#
    );
    let name = "sha256+b64:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564";
    layout.blob_named(name, manifest.as_bytes());
    layout.index_json(&[(name, manifest.len(), "v1")]);
    assert_eq!(audit_ids(&layout, &[]), ["blob-unverifiable"]);
}

#[test]
fn index_cycle_is_reported_and_terminates() {
    // Content addressing makes cycles impossible unless a blob's content does not match
    // its name, so the cycle comes with a digest mismatch, as it would in a real store.
    let layout = Layout::new();
    let name = sha256(b"index placeholder");
    let render = |size: usize| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{name}","size":{size}}}]}}"#
        )
    };
    // The entry names the index itself, with its true length (a fixed point: the length
    // only depends on the number of digits of the size).
    let mut index = render(0);
    while index.len() != render(index.len()).len() {
        index = render(index.len());
    }
    let index = render(index.len());
    layout.blob_named(&name, index.as_bytes());
    let size = layout.size_of(&name);
    layout.write_index(&format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{name}","size":{size}}}]}}"#
        ));
    let ids = audit_ids(&layout, &[]);
    assert!(ids.contains(&"index-cycle".to_owned()), "{ids:?}");
    assert!(ids.contains(&"blob-digest-mismatch".to_owned()), "{ids:?}");
}

#[test]
fn opt_in_rule_reports_only_when_enabled() {
    let layout = Layout::new();
    let (layer, layer_size) = layout.blob(b"x");
    let (config, config_size) = layout.blob(
        format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#).as_bytes(),
    );
    let (manifest, size) = layout.blob(
        format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_size}}}]}}"#
        )
        .as_bytes(),
    );
    layout.index_json(&[(&manifest, size, "v1")]);
    assert!(audit_ids(&layout, &[]).is_empty());
    assert_eq!(
        audit_ids(
            &layout,
            &["--severity", "document-media-type-missing=warning"]
        ),
        ["document-media-type-missing"]
    );
}

#[test]
fn no_verify_checks_connectivity_but_not_layer_content() {
    let (layout, _) = valid_layout();
    let layer = layout
        .path()
        .join("blobs/sha256")
        .join(&sha256(b"a layer")[7..]);
    fs::write(&layer, b"A LAYER").unwrap();
    assert_eq!(audit_ids(&layout, &[]), ["blob-digest-mismatch"]);
    assert!(audit_ids(&layout, &["--no-verify"]).is_empty());
}

#[test]
fn other_algorithms_are_verified_or_reported_unverifiable() {
    let (layout, _) = valid_layout();
    let content = b"sha512 content";
    let sha512 =
        oci_audit::hash::digest_bytes(&oci_audit::model::digest::Algorithm::Sha512, content)
            .unwrap();
    let blake3 =
        oci_audit::hash::digest_bytes(&oci_audit::model::digest::Algorithm::Blake3, content)
            .unwrap();
    layout.blob_named(&sha512.to_string(), content);
    layout.blob_named(&blake3.to_string(), b"not the content");
    layout.blob_named(
        "sha256+b64:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        b"opaque",
    );
    let out = run(&[layout.arg(), "--format", "json"]);
    assert_eq!(
        rule_ids(&out.stdout),
        [
            "blob-digest-mismatch",
            "blob-unreferenced",
            "blob-unverifiable"
        ]
    );
    assert_eq!(
        out.stdout.matches("\"blob-digest-mismatch\"").count(),
        1,
        "only the blake3 blob is corrupt"
    );
}

#[test]
fn large_blobs_verify_the_same_with_and_without_mmap() {
    use oci_audit::backend::local::{MMAP_THRESHOLD, MMAP_WINDOW};
    const { assert!(MMAP_WINDOW >= MMAP_THRESHOLD) };
    // Several mapping windows and a tail that is not page-aligned.
    let len = usize::try_from(2 * MMAP_WINDOW + 12_345).unwrap();
    let big: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let layout = Layout::new();
    let (manifest, size) = layout.image("amd64", &big);
    layout.index_json(&[(&manifest, size, "v1")]);
    assert!(audit_ids(&layout, &[]).is_empty());
    assert!(audit_ids(&layout, &["--no-mmap"]).is_empty());
    let path = layout.path().join("blobs/sha256").join(&sha256(&big)[7..]);
    for position in [len / 2, len - 1] {
        let mut corrupt = big.clone();
        corrupt[position] ^= 1;
        fs::write(&path, &corrupt).unwrap();
        assert_eq!(
            audit_ids(&layout, &[]),
            ["blob-digest-mismatch"],
            "byte {position}"
        );
        assert_eq!(
            audit_ids(&layout, &["--no-mmap"]),
            ["blob-digest-mismatch"],
            "byte {position}"
        );
    }
}

#[test]
fn odd_file_names_stay_on_one_line() {
    let (layout, _) = valid_layout();
    fs::write(layout.path().join("blobs/sha256/bad\nname"), b"").unwrap();
    let out = run(&[layout.arg()]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("blob-name-invalid"))
        .unwrap();
    assert!(line.contains("bad\\nname"), "{line}");
}

/// See: issue 10 (14). JSON names a file exactly: a newline is a real (JSON-escaped)
/// newline, not the text `\n`, and a name that is not UTF-8 carries its raw bytes.
#[test]
fn json_paths_are_lossless() {
    use base64::Engine as _;
    use std::os::unix::ffi::OsStrExt;
    let (layout, _) = valid_layout();
    fs::write(layout.path().join("blobs/sha256/new\nline"), b"").unwrap();
    let raw = std::ffi::OsStr::from_bytes(b"bad\xffname");
    fs::write(layout.path().join("blobs/sha256").join(raw), b"").unwrap();
    let out = run(&[layout.arg(), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let locations: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["location"])
        .collect();
    let newline = locations
        .iter()
        .find(|l| l["path"] == "blobs/sha256/new\nline")
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(newline.get("path_bytes").is_none(), "{newline}");
    let bad = locations
        .iter()
        .find(|l| l["path"] == "blobs/sha256/bad\u{fffd}name")
        .unwrap_or_else(|| panic!("{}", out.stdout));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(bad["path_bytes"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, b"blobs/sha256/bad\xffname");
    assert!(
        layout
            .path()
            .join(std::ffi::OsStr::from_bytes(&bytes))
            .exists()
    );
    // Text output stays one line per finding.
    let text = run(&[layout.arg()]).stdout;
    assert!(text.contains("blobs/sha256/new\\nline"), "{text}");
    assert!(text.contains("blobs/sha256/bad\u{fffd}name"), "{text}");
}

#[test]
fn hostile_documents_are_findings_not_crashes() {
    let layout = Layout::new();
    let deep = |n: usize| {
        format!(
            r#"{{"schemaVersion":2,"x":{}{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let documents: Vec<Vec<u8>> = vec![
        deep(10_000).into_bytes(),
        deep(1_000).into_bytes(),
        br#"{"schemaVersion":2,"config":{"size":99999999999999999999999}}"#.to_vec(),
        b"{\"schemaVersion\":2,\"config\":\"\xff\xfe\"}".to_vec(),
        b"[1,2,3]".to_vec(),
        b"".to_vec(),
        br#"{"schemaVersion":2,"schemaVersion":3,"config":{},"layers":[]}"#.to_vec(),
    ];
    let entries: Vec<(String, usize)> = documents.iter().map(|d| layout.blob(d)).collect();
    let refs: Vec<(&str, usize, &str)> =
        entries.iter().map(|(d, s)| (d.as_str(), *s, "t")).collect();
    layout.index_json(&refs);
    let out = run(&[layout.arg(), "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    for needle in [
        "nested deeper than 1024 levels",
        "a number does not fit 64 bits",
        "not valid UTF-8",
        "the document has the wrong JSON type",
        "not valid JSON: EOF while parsing a value",
        "duplicate member name",
    ] {
        assert!(out.stdout.contains(needle), "{needle}: {}", out.stdout);
    }
}

/// See: issue 10 (a review against other projects' stores). A descriptor's own
/// `artifactType` was looked up under its whole JSON pointer, so it was never read: a
/// referrers index of absent signatures and SBOMs drew index-platform-missing, and an
/// ungrammatical artifactType on a descriptor passed.
#[test]
fn descriptor_artifact_type_is_read() {
    let layout = Layout::new();
    let (image, image_size) = layout.image("amd64", b"layer");
    let absent = sha256(b"a signature manifest nobody copied");
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{image}","size":{image_size},"platform":{{"os":"linux","architecture":"amd64"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","digest":"{absent}","size":100}}]}}"#
    );
    let (index_digest, index_size) = layout.blob(index.as_bytes());
    layout.write_index(&format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{index_digest}","size":{index_size}}}]}}"#
    ));
    assert_eq!(audit_ids(&layout, &[]), ["index-manifest-missing"]);
    let bad = index.replace(
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        "not a media type!!",
    );
    let (bad_digest, bad_size) = layout.blob(bad.as_bytes());
    layout.write_index(&format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{bad_digest}","size":{bad_size}}}]}}"#
    ));
    let out = run(&[layout.arg(), "--format", "json"]);
    assert!(
        out.stdout.contains("/manifests/1/artifactType"),
        "{}",
        out.stdout
    );
    assert!(rule_ids(&out.stdout).contains(&"descriptor-media-type-invalid".to_owned()));
}

#[test]
fn artifacts_in_an_index_need_no_platform() {
    let layout = Layout::new();
    let (image, image_size) = layout.image("amd64", b"layer");
    let (empty, _) = layout.blob(b"{}");
    let (payload, payload_size) = layout.blob(b"signature bytes");
    let artifact = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/vnd.example.sig","digest":"{payload}","size":{payload_size}}}]}}"#
    );
    let (artifact, artifact_size) = layout.blob(artifact.as_bytes());
    let entry = |digest: &str, size: usize, extra: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{size}{extra}}}"#
        )
    };
    let index = |entries: Vec<String>| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            entries.join(",")
        )
    };
    let platform = r#","platform":{"os":"linux","architecture":"amd64"}"#;
    // The artifact is recognised by its config type, with or without artifactType on the entry.
    for artifact_entry in [
        entry(&artifact, artifact_size, ""),
        entry(
            &artifact,
            artifact_size,
            r#","artifactType":"application/vnd.example.sig""#,
        ),
    ] {
        let (index_digest, index_size) = layout
            .blob(index(vec![entry(&image, image_size, platform), artifact_entry]).as_bytes());
        layout.write_index(&index(vec![format!(
                r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{index_digest}","size":{index_size}}}"#
            )]));
        let ids = audit_ids(&layout, &[]);
        assert!(ids.iter().all(|id| id == "blob-unreferenced"), "{ids:?}");
        // Coverage agrees with the rule: the artifact is an artifact, not a gap.
        let out = run(&[layout.arg(), "--format", "json"]);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let coverage = &report["coverage"][0];
        assert_eq!(
            coverage["artifacts"].as_array().unwrap().len(),
            1,
            "{coverage}"
        );
        assert!(
            coverage["without_platform"].as_array().unwrap().is_empty(),
            "{coverage}"
        );
    }
    // An image entry without a platform is still reported.
    let (index_digest, index_size) =
        layout.blob(index(vec![entry(&image, image_size, "")]).as_bytes());
    layout.write_index(&index(vec![format!(
            r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{index_digest}","size":{index_size}}}"#
        )]));
    assert!(audit_ids(&layout, &[]).contains(&"index-platform-missing".to_owned()));
}

#[test]
fn deeply_nested_indexes_do_not_overflow_the_stack() {
    // Each index names the next: 30,000 levels, far deeper than a recursive walk survives
    // on a worker thread's stack. See: review of 2026-11-24 (stack overflow in coverage).
    let layout = Layout::new();
    let (mut digest, mut size) = layout.image("amd64", b"bottom");
    let mut media_type = "application/vnd.oci.image.manifest.v1+json";
    for _ in 0..30_000 {
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{media_type}","digest":"{digest}","size":{size},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        (digest, size) = layout.blob(index.as_bytes());
        media_type = "application/vnd.oci.image.index.v1+json";
    }
    layout.write_index(&format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}]}}"#
        ));
    let out = run(&[layout.arg(), "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(r#""architecture": "amd64""#));
}

#[test]
fn index_json_is_read_as_an_index_whatever_its_media_type_says() {
    let (layout, manifest) = valid_layout();
    let size = layout.size_of(&manifest);
    layout.write_index(&format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{size}}}]}}"#
        ));
    layout.blob(b"an orphan");
    let out = run(&[layout.arg(), "--format", "json"]);
    assert_eq!(
        rule_ids(&out.stdout),
        ["blob-unreferenced", "document-schema-invalid"],
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(r#""pointer": "/mediaType""#));
    assert!(
        out.stdout.contains(r#""documents": 2"#),
        "the image below is still audited"
    );
}

#[test]
fn a_target_of_unreadable_type_leaves_nothing_falsely_unreferenced() {
    // index.json names the manifest without a mediaType: the manifest is not parsed, so
    // its config and layer must not be called unreferenced. See: review of 2026-11-24.
    let (layout, manifest) = valid_layout();
    let size = layout.size_of(&manifest);
    for entry in [
        format!(r#"{{"digest":"{manifest}","size":{size}}}"#),
        format!(r#"{{"mediaType":"not a type","digest":"{manifest}","size":{size}}}"#),
        format!(
            r#"{{"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws","digest":"{manifest}","size":{size}}}"#
        ),
    ] {
        layout.write_index(&format!(r#"{{"schemaVersion":2,"manifests":[{entry}]}}"#));
        let ids = audit_ids(&layout, &[]);
        assert!(
            !ids.contains(&"blob-unreferenced".to_owned()),
            "{entry}: {ids:?}"
        );
    }
}

#[test]
fn layout_files_win_over_a_stray_repositories_directory() {
    let (layout, _) = valid_layout();
    fs::create_dir(layout.path().join("repositories")).unwrap();
    assert!(audit_ids(&layout, &[]).is_empty());
}

#[test]
fn go_style_null_env_is_accepted() {
    let layout = Layout::new();
    let (layer, layer_size) = layout.blob(b"x");
    let (config, config_size) = layout.blob(
        format!(r#"{{"architecture":"amd64","os":"linux","config":{{"Env":null,"Cmd":null}},"rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#)
            .as_bytes(),
    );
    let (manifest, size) = layout.blob(
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_size}}}]}}"#
        )
        .as_bytes(),
    );
    layout.index_json(&[(&manifest, size, "v1")]);
    assert!(audit_ids(&layout, &[]).is_empty());
}

#[test]
fn no_layout_in_the_tree_is_skipped() {
    // A layout nested inside the audited layout (zot keeps repository a/b inside a), and a
    // layout that lost its index.json but kept oci-layout: both are audited. A directory
    // holding only blobs/ is no evidence of a layout (see: issue 10, point 1). See: review
    // of 2026-11-24.
    let (outer, _) = valid_layout();
    let inner = Layout::new();
    let (manifest, size) = inner.image("arm64", b"inner layer");
    inner.index_json(&[(&manifest, size, "v2")]);
    copy_tree(inner.path(), &outer.path().join("team/inner"));
    fs::create_dir_all(outer.path().join("broken/blobs/sha256")).unwrap();
    fs::write(
        outer.path().join("broken/oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::create_dir_all(outer.path().join("only-blobs/blobs/sha256")).unwrap();
    let out = run(&[outer.arg(), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["store"]["kind"], "oci-layouts");
    assert_eq!(report["stats"]["layouts"], 3);
    assert_eq!(rule_ids(&out.stdout), ["index-json-missing"]);
    assert!(
        out.stdout.contains(r#""path": "broken/index.json""#),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(r#""path": "team/inner/index.json""#),
        "{}",
        out.stdout
    );
}

/// A copy of the real registry root, with files git cannot hold: symlinks out of the tree
/// as a link, a repository and a blob's data; FIFOs as a link and as startedat; a
/// directory where a link belongs. None may be followed or block; each is named.
#[test]
fn registry_symlinks_fifos_and_odd_files_are_findings() {
    let copy = tempfile::tempdir().unwrap();
    let root = copy.path().join("root");
    copy_tree(
        &crate::support::repo().join("corpus/distribution/registry-2.8/store"),
        &root,
    );
    let v2 = root.join("docker/registry/v2");
    let outside = tempfile::tempdir().unwrap();
    fs::write(
        outside.path().join("link"),
        "sha256:88d406bfdf41bec031b2ef776b2cf1bb87e641200dece3a1f02c571944860042",
    )
    .unwrap();
    let repos = v2.join("repositories");
    // The tag-history link of library/app:v0's older manifest: a symlink out of the tree.
    let history = repos.join(
        "library/app/_manifests/tags/v0/index/sha256/4f764ca6d4933aec3f39b9c0f81c9c64a69bf218af386016ea1f39317f8c9d27/link",
    );
    fs::remove_file(&history).unwrap();
    symlink(outside.path().join("link"), &history).unwrap();
    // team/web/app's tag: current/link is a FIFO.
    let current = repos.join("team/web/app/_manifests/tags/v1/current/link");
    fs::remove_file(&current).unwrap();
    mkfifo(&current);
    // A repository that is a symlink to a directory outside.
    symlink(outside.path(), repos.join("library/elsewhere")).unwrap();
    // An upload whose startedat is a FIFO.
    let upload = repos.join("library/multi/_uploads/0000-fifo");
    fs::create_dir_all(&upload).unwrap();
    mkfifo(&upload.join("startedat"));
    // A blob whose data is a symlink to a file outside.
    let blob = v2.join(
        "blobs/sha256/f8/f8e0a6a8942ef4de249ef0731d85efd0eda3cd8e2663d27f8d4fee8b84a6211f/data",
    );
    fs::remove_file(&blob).unwrap();
    symlink(outside.path().join("link"), &blob).unwrap();

    // What deleting a manifest by digest leaves (git cannot hold it): an empty revision
    // directory. Not a finding.
    let deleted = repos.join(format!(
        "library/app/_manifests/revisions/sha256/{}",
        "c".repeat(64)
    ));
    fs::create_dir_all(&deleted).unwrap();

    let out = run(&[root.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(!out.stdout.contains(&"c".repeat(64)), "{}", out.stdout);
    let ids = rule_ids(&out.stdout);
    for expected in [
        "registry-link-invalid",
        "io-error",
        "registry-upload-invalid",
        "blob-not-regular",
    ] {
        assert!(ids.iter().any(|id| id == expected), "{expected} in {ids:?}");
    }
    let text = run(&[root.to_str().unwrap()]).stdout;
    for expected in [
        "error[registry-link-invalid] docker/registry/v2/repositories/library/app/_manifests/tags/v0/index/sha256/4f764ca6d4933aec3f39b9c0f81c9c64a69bf218af386016ea1f39317f8c9d27/link: link cannot be read: is a symlink; not followed",
        "error[registry-link-invalid] docker/registry/v2/repositories/team/web/app/_manifests/tags/v1/current/link: link cannot be read: is a FIFO, not a file",
        "error[io-error] docker/registry/v2/repositories/library/elsewhere: is a symlink; not followed",
        "warning[registry-upload-invalid] docker/registry/v2/repositories/library/multi/_uploads/0000-fifo: startedat cannot be read: is a FIFO, not a file",
        "error[blob-not-regular] docker/registry/v2/blobs/sha256/f8/f8e0a6a8942ef4de249ef0731d85efd0eda3cd8e2663d27f8d4fee8b84a6211f/data: blob is a symlink (not followed)",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}

/// A revision link that holds no digest, or sits under a path that names none, hides which
/// manifest the repository keeps: the audit says so, reports no blob as unreferenced
/// (the claim could be false), and gives the reclaimable figures as an upper bound.
#[test]
fn unusable_revision_links_leave_garbage_collection_incomplete() {
    let copy = tempfile::tempdir().unwrap();
    let root = copy.path().join("root");
    copy_tree(
        &crate::support::repo().join("corpus/distribution/registry-2.8/store"),
        &root,
    );
    let repos = root.join("docker/registry/v2/repositories");
    let docker = "d7d3d3d34215f3be186550e831c9cc63ee8ccc3e7b7d34176e0380d48410375b";
    fs::write(
        repos.join(format!(
            "library/docker/_manifests/revisions/sha256/{docker}/link"
        )),
        b"",
    )
    .unwrap();
    let odd = repos.join("library/app/_manifests/revisions/sha256/not-a-digest");
    fs::create_dir_all(&odd).unwrap();
    fs::write(odd.join("link"), format!("sha256:{docker}")).unwrap();

    let out = run(&[root.to_str().unwrap(), "--format", "json"]);
    let ids = rule_ids(&out.stdout);
    assert_eq!(
        ids,
        [
            "registry-link-invalid",
            "registry-link-path-mismatch",
            "registry-tag-revision-missing",
            "registry-upload-stale",
        ],
        "{}",
        out.stdout
    );
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["reclaimable_total"]["complete"], false);
    let text = run(&[root.to_str().unwrap()]).stdout;
    assert!(
        text.contains("registry garbage-collect would reclaim at most"),
        "{text}"
    );
}

/// A cosign signature tag (`sha256-<hex>.sig`: an image config with an empty `os` and
/// `architecture`, and a simple-signing payload as its one layer) is no platform "/" and
/// no coverage root at all (issue 31, item 5): it signs the image's tag in the
/// supply-chain view, with no finding, and the image's own tag keeps its platform.
#[test]
fn a_cosign_signature_tag_signs_its_image_and_is_not_a_platform() {
    let layout = Layout::new();
    let (image, image_size) = layout.image("amd64", b"the image's layer");
    let (payload, payload_size) = layout.blob(
        format!(r#"{{"critical":{{"image":{{"docker-manifest-digest":"{image}"}},"type":"cosign container image signature"}},"optional":null}}"#)
            .as_bytes(),
    );
    let config = format!(
        r#"{{"architecture":"","os":"","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{payload}"]}}}}"#
    );
    let (config_digest, config_size) = layout.blob(config.as_bytes());
    let signature = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{payload}","size":{payload_size},"annotations":{{"dev.cosignproject.cosign/signature":"MEUCIQ"}}}}]}}"#
    );
    let (signature_digest, signature_size) = layout.blob(signature.as_bytes());
    let sig_tag = format!("{}.sig", image.replace(':', "-"));
    layout.index_json(&[
        (&image, image_size, "v1"),
        (&signature_digest, signature_size, &sig_tag),
    ]);
    let out = run(&["--format", "json", layout.arg()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        0,
        "{}",
        out.stdout
    );
    // The signature leaves the platform coverage and signs v1 in the supply-chain view.
    let coverage = report["coverage"].as_array().unwrap();
    let roots: Vec<&str> = coverage
        .iter()
        .map(|c| c["root"].as_str().unwrap())
        .collect();
    assert_eq!(roots, ["v1"], "{}", out.stdout);
    assert_eq!(coverage[0]["platforms"][0]["architecture"], "amd64");
    let chain = &report["supply_chain"];
    assert_eq!(chain["summary"]["tags"], 1, "{chain}");
    assert_eq!(chain["summary"]["signed"], 1, "{chain}");
    assert_eq!(chain["summary"]["signed_by_format"]["cosign"], 1, "{chain}");
    let row = &chain["tags"][0];
    assert_eq!(
        (&row["tag"], &row["digest"]),
        (&"v1".into(), &image.clone().into())
    );
    assert_eq!(row["signatures"][0]["digest"], signature_digest, "{row}");
    assert_eq!(row["signatures"][0]["format"], "cosign", "{row}");
    let text = run(&[layout.arg()]).stdout;
    assert!(!text.contains("\n  /"), "{text}");
    assert!(
        text.contains(
            "supply chain: 1 of 1 tag signed (cosign 1), 0 with an SBOM, 0 with provenance"
        ),
        "{text}"
    );
}
