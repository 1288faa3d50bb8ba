//! Referrers in Debian's docker-registry 2.8, which has no referrers API (issue 31, "Real
//! data"): the images of `corpus/referrers/clean-referrers` and their cosign tags pushed
//! by skopeo (`--preserve-digests`), a notation signature and an SPDX SBOM attached by a
//! client that follows the distribution-spec's fallback steps (`support::referrers`).
//! The supply-chain view is the same on the registry's disk and over its API; two
//! clients attaching at once lose an entry as the spec warns, which the disk shows and
//! HTTP cannot; deleting the image orphans its referrers, and garbage collection is
//! checked against the registry's own `garbage-collect --delete-untagged`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::referrers::{Client, digest};
use crate::support::registry::{Registry, program, registry_program, skopeo};
use crate::support::{repo, run};

const NOTARY: &str = "application/vnd.cncf.notary.signature";
const SPDX: &str = "application/spdx+json";
const EMPTY: &str = "application/vnd.oci.empty.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn audit(target: &str, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json", target];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(out.code < 2, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

/// The bytes of the blob the `at`th entry of the layout's `index.json` names.
fn layout_blob_at(store: &std::path::Path, index: &Value, at: usize) -> Vec<u8> {
    let digest = index["manifests"][at]["digest"].as_str().unwrap();
    std::fs::read(store.join("blobs/sha256").join(&digest[7..])).unwrap()
}

/// A notation signature of `subject` (its payload and certificate thumbprint told apart).
fn notation_signature(
    client: &Client,
    subject: &Value,
    payload: &[u8],
    thumbprint: &str,
) -> Vec<u8> {
    client.referrer(
        subject,
        None,
        (NOTARY, b"{}"),
        ("application/jose+json", payload),
        json!({ "io.cncf.notary.x509chain.thumbprint#S256": format!("[\"{thumbprint}\"]") }),
    )
}

fn rules(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect()
}

/// Each tag row as "tag: formats of each list".
fn rows(report: &Value) -> Vec<String> {
    let list = |entries: &Value| -> String {
        let formats: Vec<&str> = entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["format"].as_str().unwrap())
            .collect();
        formats.join("+")
    };
    report["supply_chain"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            format!(
                "{}:{} sig={} sbom={} prov={} other={}",
                row["repository"].as_str().unwrap(),
                row["tag"].as_str().unwrap(),
                list(&row["signatures"]),
                list(&row["sboms"]),
                list(&row["provenance"]),
                list(&row["other"])
            )
        })
        .collect()
}

#[test]
fn referrers_in_a_registry_show_alike_on_disk_and_over_http_lose_updates_and_orphan() {
    let Some(registry_bin) = registry_program() else {
        return;
    };
    if program("skopeo").is_none() {
        return;
    }
    let registry = Registry::start(&registry_bin);
    let store = repo().join("corpus/referrers/clean-referrers/store");
    let index: Value =
        serde_json::from_slice(&std::fs::read(store.join("index.json")).unwrap()).unwrap();
    // The images and cosign's tags, as skopeo copies them (not the fallback tag: skopeo
    // 1.9 rewrites an index whose entries carry artifactType, dropping it).
    for entry in index["manifests"].as_array().unwrap() {
        let tag = entry["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap();
        if tag.starts_with("sha256-") && !tag.contains('.') {
            continue;
        }
        skopeo(&[
            "--preserve-digests",
            &format!("oci:{}:{tag}", store.display()),
            &format!("docker://127.0.0.1:{}/app:{tag}", registry.port),
        ]);
    }
    let client = Client {
        port: registry.port,
        name: "app".to_owned(),
    };
    let subject_of = |tag: &str| {
        let got = client.request(
            "GET",
            &format!("/v2/app/manifests/{tag}"),
            &[("Accept", MANIFEST)],
            b"",
        );
        assert_eq!(got.status, 200);
        json!({"mediaType": MANIFEST, "digest": digest(&got.body), "size": got.body.len()})
    };
    let v1 = subject_of("v1");
    let v1_digest = v1["digest"].as_str().unwrap().to_owned();
    let notation = notation_signature(&client, &v1, br#"{"payload":"e30"}"#, "ab");
    client.attach(&v1_digest, &notation);
    let sbom = client.referrer(
        &v1,
        Some(SPDX),
        (EMPTY, b"{}"),
        (SPDX, br#"{"spdxVersion":"SPDX-2.3"}"#),
        json!({"org.opencontainers.image.created": "2026-12-01T00:00:00Z"}),
    );
    client.attach(&v1_digest, &sbom);

    let root = registry.root();
    let root = root.to_str().unwrap();
    let url = format!("{}/", registry.url());
    let disk = audit(root, &[]);
    let http = audit(&url, &[]);
    let expected = [
        "app:v1 sig=cosign+notation sbom=spdx prov=slsa other=",
        "app:v2 sig= sbom=spdx prov=slsa other=",
        "app:v3 sig= sbom= prov= other=",
    ];
    for (how, report) in [("disk", &disk), ("http", &http)] {
        assert_eq!(rules(report), Vec::<String>::new(), "{how}: {report}");
        assert_eq!(rows(report), expected, "{how}");
        let summary = &report["supply_chain"]["summary"];
        assert_eq!(
            (
                &summary["signed"],
                &summary["with_sbom"],
                &summary["orphans"]
            ),
            (&json!(1), &json!(2), &json!(0)),
            "{how}"
        );
    }
    assert_eq!(disk["supply_chain"], http["supply_chain"]);

    // Two clients sign v3 at once: both pull the empty list, each pushes its own, and the
    // second overwrites the first (the spec: "race conditions and data loss").
    let v3 = subject_of("v3");
    let v3_digest = v3["digest"].as_str().unwrap().to_owned();
    let first = notation_signature(&client, &v3, br#"{"payload":"Zmlyc3Q"}"#, "first");
    let second = notation_signature(&client, &v3, br#"{"payload":"c2Vjb25k"}"#, "second");
    client.manifest(&first, MANIFEST, &digest(&first));
    client.manifest(&second, MANIFEST, &digest(&second));
    let (list_a, list_b) = (
        client.referrers_list(&v3_digest),
        client.referrers_list(&v3_digest),
    );
    client.push_referrers_list(&v3_digest, list_a, &first);
    client.push_referrers_list(&v3_digest, list_b, &second);
    let disk = audit(root, &[]);
    let lost: Vec<&Value> = disk["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "referrers-index-incomplete")
        .collect();
    assert_eq!(lost.len(), 1, "{disk}");
    assert_eq!(lost[0]["location"]["digest"], digest(&first).as_str());
    assert_eq!(rules(&disk), ["referrers-index-incomplete"]);
    // Over HTTP the lost signature is nowhere to be found: that is the loss.
    let http = audit(&url, &[]);
    assert_eq!(rules(&http), Vec::<String>::new(), "{http}");
    let v3_row = |report: &Value| rows(report)[2].clone();
    assert_eq!(
        v3_row(&disk),
        "app:v3 sig=notation+notation sbom= prov= other="
    );
    assert_eq!(v3_row(&http), "app:v3 sig=notation sbom= prov= other=");

    // v1 deleted by digest: its cosign tags, its fallback tag and the two referrers are
    // orphans; the tags are findings, with the bytes deleting them would reclaim.
    let deleted = client.request(
        "DELETE",
        &format!("/v2/app/manifests/{v1_digest}"),
        &[],
        b"",
    );
    assert_eq!(deleted.status, 202);
    let fallback_tag = v1_digest.replace(':', "-");
    for (how, report) in [("disk", audit(root, &[])), ("http", audit(&url, &[]))] {
        let findings: Vec<&Value> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "referrer-tag-orphaned")
            .collect();
        assert_eq!(findings.len(), 3, "{how}: {report}");
        assert!(
            findings.iter().all(|f| f["bytes"].as_u64().unwrap() > 0),
            "{how}"
        );
        let orphaned: BTreeSet<String> = report["supply_chain"]["orphans"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| Some(o["tag"].as_str()?.to_owned()))
            .collect();
        let expected: BTreeSet<String> = [
            fallback_tag.clone(),
            format!("{fallback_tag}.att"),
            format!("{fallback_tag}.sig"),
        ]
        .into();
        assert_eq!(orphaned, expected, "{how}: {report}");
        let summary = &report["supply_chain"]["summary"];
        assert!(summary["orphan_bytes"].as_u64().unwrap() > 0, "{how}");
        // The three tags and the two referrers the fallback index lists (HTTP reaches
        // them through it).
        assert_eq!(summary["orphans"], 5, "{how}");
        assert_eq!(summary["tags"], 2, "{how}");
    }

    // Garbage collection: a cosign tag keeps its signature (tagged), and what only the
    // deleted v1 held goes, by both accounts; the registry deletes more (below).
    let simulated = audit(root, &["--untagged"]);
    let reclaimable: BTreeSet<String> = simulated["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "blob-unreferenced")
        .map(|f| f["location"]["digest"].as_str().unwrap().to_owned())
        .collect();
    let collected = registry.collectable(&["--delete-untagged"]);
    let blobs_of = |manifest: &[u8]| -> Vec<String> {
        let m: Value = serde_json::from_slice(manifest).unwrap();
        let mut out = vec![m["config"]["digest"].as_str().unwrap().to_owned()];
        out.extend(
            m["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_owned()),
        );
        out
    };
    // v1's own config and layer are gone by both accounts.
    let v1_manifest = std::fs::read(
        registry
            .root()
            .join("docker/registry/v2/blobs/sha256")
            .join(&v1_digest[7..9])
            .join(&v1_digest[7..])
            .join("data"),
    )
    .unwrap();
    for blob in blobs_of(&v1_manifest) {
        assert!(
            reclaimable.contains(&blob) && collected.contains(&blob),
            "{blob}"
        );
    }
    // The cosign tags keep their manifests' config and payload, orphaned or not.
    for tagged in [3, 4] {
        let manifest = layout_blob_at(&store, &index, tagged);
        for blob in blobs_of(&manifest) {
            assert!(
                !reclaimable.contains(&blob) && !collected.contains(&blob),
                "{blob}"
            );
        }
    }
    // What the registry deletes beyond that is what oci-audit keeps on purpose
    // (kinds/distribution/gc.rs): distribution 2.8 marks one level below a tagged index
    // (distribution#3178), and deletes untagged referrers (distribution#3716). So: the
    // configs and layers of manifests a tagged index lists (v2's platform manifest and
    // its attestation; the referrers the fallback indexes list), and a referrer whose
    // subject is kept though no tag names it (the signature the race lost).
    let layout_blob =
        |digest: &str| std::fs::read(store.join("blobs/sha256").join(&digest[7..])).unwrap();
    let v2: Value = serde_json::from_slice(&layout_blob(
        index["manifests"][1]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let mut kept_on_purpose: BTreeSet<String> = [&notation, &sbom, &first, &second]
        .into_iter()
        .flat_map(|m| blobs_of(m))
        .collect();
    kept_on_purpose.insert(digest(&first));
    for child in v2["manifests"].as_array().unwrap() {
        kept_on_purpose.extend(blobs_of(&layout_blob(child["digest"].as_str().unwrap())));
    }
    assert!(
        reclaimable.is_subset(&collected),
        "{reclaimable:?} {collected:?}"
    );
    let difference: BTreeSet<String> = collected.difference(&reclaimable).cloned().collect();
    assert!(
        difference.is_subset(&kept_on_purpose),
        "{difference:?} {kept_on_purpose:?}"
    );
}
