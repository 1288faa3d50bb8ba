//! A client that pushes referrers to a registry without the referrers API the way the
//! distribution-spec tells clients to (§ Pushing Manifests with Subject, "the client
//! MUST: pull the current referrers list using the referrers tag schema … append a
//! descriptor for the pushed manifest … push the updated referrers list"), over plain
//! HTTP/1.1 on 127.0.0.1. Debian packages no client that writes fallback tags (oras,
//! regctl, cosign and notation are not in bookworm); this one follows the spec's steps
//! and nothing else, and can interleave two clients' steps to show the lost update the
//! spec warns of.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use serde_json::{Value, json};
use sha2::Digest as _;

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// One answer: status, headers (lower-case names), body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The registry at 127.0.0.1:`port`, repository `name`.
pub struct Client {
    pub port: u16,
    pub name: String,
}

impl Client {
    /// One request (HTTP/1.0: the answer ends when the connection closes).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    /// Uploads a blob (POST then a monolithic PUT); returns its digest.
    pub fn blob(&self, bytes: &[u8]) -> String {
        let digest = digest(bytes);
        let started = self.request(
            "POST",
            &format!("/v2/{}/blobs/uploads/", self.name),
            &[],
            b"",
        );
        assert_eq!(started.status, 202, "upload not started");
        let location = started.header("location").unwrap().to_owned();
        let path = location
            .strip_prefix(&format!("http://127.0.0.1:{}", self.port))
            .unwrap_or(&location);
        let separator = if path.contains('?') { '&' } else { '?' };
        let put = self.request(
            "PUT",
            &format!("{path}{separator}digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            bytes,
        );
        assert_eq!(put.status, 201, "blob {digest} not stored");
        digest
    }

    /// Pushes a manifest (or index) as `reference` (a tag or its digest).
    pub fn manifest(&self, bytes: &[u8], media_type: &str, reference: &str) {
        let put = self.request(
            "PUT",
            &format!("/v2/{}/manifests/{reference}", self.name),
            &[("Content-Type", media_type)],
            bytes,
        );
        assert_eq!(
            put.status,
            201,
            "manifest {reference}: {}",
            String::from_utf8_lossy(&put.body)
        );
    }

    /// Step 1: the referrers list of `subject` through its fallback tag; step 3: "If the
    /// tag returns a 404, the client MUST begin with an empty image index."
    pub fn referrers_list(&self, subject: &str) -> Value {
        let tag = subject.replace(':', "-");
        let got = self.request(
            "GET",
            &format!("/v2/{}/manifests/{tag}", self.name),
            &[("Accept", "application/vnd.oci.image.index.v1+json")],
            b"",
        );
        match got.status {
            404 => {
                json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})
            }
            200 => serde_json::from_slice(&got.body).unwrap(),
            status => panic!("referrers tag {tag}: {status}"),
        }
    }

    /// Steps 4–6: the descriptor of `referrer` appended to `list` (its artifactType, else
    /// its config's mediaType; its annotations) unless listed, and the list pushed to the
    /// fallback tag of `subject`.
    pub fn push_referrers_list(&self, subject: &str, mut list: Value, referrer: &[u8]) {
        let manifest: Value = serde_json::from_slice(referrer).unwrap();
        let digest = digest(referrer);
        let entries = list["manifests"].as_array_mut().unwrap();
        if !entries.iter().any(|e| e["digest"] == digest.as_str()) {
            let mut entry = json!({
                "mediaType": manifest["mediaType"],
                "digest": digest,
                "size": referrer.len(),
                "artifactType": manifest.get("artifactType").unwrap_or(&manifest["config"]["mediaType"]),
            });
            if let Some(annotations) = manifest.get("annotations") {
                entry["annotations"] = annotations.clone();
            }
            entries.push(entry);
        }
        let bytes = serde_json::to_vec(&list).unwrap();
        self.manifest(
            &bytes,
            "application/vnd.oci.image.index.v1+json",
            &subject.replace(':', "-"),
        );
    }

    /// A referrer pushed by digest, and its subject's referrers list updated, in the
    /// spec's order.
    pub fn attach(&self, subject: &str, referrer: &[u8]) {
        self.manifest(
            referrer,
            "application/vnd.oci.image.manifest.v1+json",
            &digest(referrer),
        );
        let list = self.referrers_list(subject);
        self.push_referrers_list(subject, list, referrer);
    }

    /// An artifact manifest with `subject` (a descriptor), of `config` (mediaType and
    /// bytes) and one `layer`, its blobs uploaded; returns its bytes.
    pub fn referrer(
        &self,
        subject: &Value,
        artifact_type: Option<&str>,
        config: (&str, &[u8]),
        layer: (&str, &[u8]),
        annotations: Value,
    ) -> Vec<u8> {
        let config_digest = self.blob(config.1);
        let layer_digest = self.blob(layer.1);
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": config.0, "digest": config_digest, "size": config.1.len()},
            "layers": [{"mediaType": layer.0, "digest": layer_digest, "size": layer.1.len()}],
            "subject": subject,
            "annotations": annotations,
        });
        if let Some(ty) = artifact_type {
            manifest["artifactType"] = json!(ty);
        }
        serde_json::to_vec(&manifest).unwrap()
    }
}
