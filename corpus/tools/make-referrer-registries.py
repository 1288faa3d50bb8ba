#!/usr/bin/env python3
"""Distribution roots with referrers, written by Debian's docker-registry 2.8 (which has
no referrers API), clean and with one fault each, every fault made through the registry's
own API or by a real client.

Usage: corpus/tools/make-referrer-registries.py [OUTDIR]
       (default OUTDIR: corpus/distribution relative to the repository root)

Each case starts the registry on 127.0.0.1 with its root at OUTDIR/<case>/store, then:
- skopeo 1.9 (`copy --all --preserve-digests`) pushes the images and cosign tags of
  corpus/referrers/clean-referrers (v1, v2 a BuildKit index with its attestation, v3, and
  v1's cosign `.sig` and `.att` tags) into repository `app`;
- a notation signature and an SPDX SBOM of v1 are attached by the client below, which
  follows the distribution-spec's steps for a registry without the referrers API
  ("Pushing Manifests with Subject": push the manifest, pull the fallback tag's index or
  begin with an empty one, append the descriptor with the manifest's artifactType, else
  its config's mediaType, and its annotations, push the index back). No client in Debian
  writes fallback tags (oras, regctl, cosign, notation are not packaged);
- the case's fault, if any, through the registry's API or skopeo.
Then the registry is stopped and OUTDIR/<case>/case.toml written. Needs docker-registry
and skopeo; offline. The roots keep no timestamps (finished uploads leave none), so a
rerun writes the same bytes.
"""
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYOUT = os.path.join(REPO, "corpus", "referrers", "clean-referrers", "store")
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
NOTARY = "application/vnd.cncf.notary.signature"
SPDX = "application/spdx+json"
EMPTY = "application/vnd.oci.empty.v1+json"
JOSE = "application/jose+json"


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """docker-registry serving `root` on 127.0.0.1, and a client of its API."""

    def __init__(self, root):
        self.port = free_port()
        self.dir = tempfile.mkdtemp()
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\n"
                    f"storage:\n  filesystem: {{rootdirectory: {root}}}\n  delete: {{enabled: true}}\n"
                    "  maintenance: {uploadpurging: {enabled: false}}\n"
                    f"http: {{addr: 127.0.0.1:{self.port}}}\n")
        program = shutil.which("docker-registry") or shutil.which("registry")
        self.process = subprocess.Popen([program, "serve", config],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                if self.request("GET", "/v2/")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the registry did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.dir)

    def request(self, method, path, body=b"", headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        data = answer.read()
        connection.close()
        return answer.status, dict(answer.getheaders()), data

    def skopeo(self, tag, to=None):
        subprocess.run(["skopeo", "copy", "--all", "--quiet", "--preserve-digests",
                        "--dest-tls-verify=false", f"oci:{LAYOUT}:{tag}",
                        f"docker://127.0.0.1:{self.port}/app:{to or tag}"], check=True)

    def blob(self, data):
        status, headers, _ = self.request("POST", "/v2/app/blobs/uploads/")
        assert status == 202, status
        location = headers["Location"].replace(f"http://127.0.0.1:{self.port}", "")
        separator = "&" if "?" in location else "?"
        status, _, _ = self.request("PUT", f"{location}{separator}digest={digest(data)}", data,
                                    {"Content-Type": "application/octet-stream"})
        assert status == 201, status
        return {"digest": digest(data), "size": len(data)}

    def manifest(self, data, media_type, reference):
        status, _, body = self.request("PUT", f"/v2/app/manifests/{reference}", data,
                                       {"Content-Type": media_type})
        assert status == 201, (status, body)

    def get(self, reference, accept=MANIFEST):
        status, _, body = self.request("GET", f"/v2/app/manifests/{reference}",
                                       headers={"Accept": accept})
        return status, body

    # The spec's client (distribution-spec, Pushing Manifests with Subject).
    def referrers_list(self, subject):
        status, body = self.get(subject.replace(":", "-"), INDEX)
        if status == 404:
            return {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
        assert status == 200, status
        return json.loads(body)

    def push_referrers_list(self, subject, listing, referrer):
        manifest = json.loads(referrer)
        if not any(e["digest"] == digest(referrer) for e in listing["manifests"]):
            entry = {"mediaType": manifest["mediaType"], "digest": digest(referrer),
                     "size": len(referrer),
                     "artifactType": manifest.get("artifactType") or manifest["config"]["mediaType"]}
            if manifest.get("annotations"):
                entry["annotations"] = manifest["annotations"]
            listing["manifests"].append(entry)
        data = json.dumps(listing, separators=(",", ":")).encode()
        self.manifest(data, INDEX, subject.replace(":", "-"))

    def attach(self, subject, referrer):
        self.manifest(referrer, MANIFEST, digest(referrer))
        self.push_referrers_list(subject, self.referrers_list(subject), referrer)

    def referrer(self, subject, config_type, layer, annotations, artifact_type=None):
        config = dict(mediaType=config_type, **self.blob(b"{}"))
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST}
        if artifact_type:
            manifest["artifactType"] = artifact_type
        manifest.update({"config": config,
                         "layers": [dict(mediaType=layer[0], **self.blob(layer[1]))],
                         "subject": subject, "annotations": annotations})
        return json.dumps(manifest, separators=(",", ":")).encode()

    def subject(self, tag):
        status, body = self.get(tag)
        assert status == 200, status
        return {"mediaType": MANIFEST, "digest": digest(body), "size": len(body)}


def clean(registry):
    """The clean root: images, cosign tags, notation and SBOM with the fallback tag."""
    index = json.load(open(os.path.join(LAYOUT, "index.json")))
    for entry in index["manifests"]:
        tag = entry["annotations"]["org.opencontainers.image.ref.name"]
        if tag.startswith("sha256-") and "." not in tag:
            continue  # the fallback tag: written below by the spec's client
        registry.skopeo(tag)
    v1 = registry.subject("v1")
    notation = registry.referrer(v1, NOTARY, (JOSE, b'{"payload":"e30"}'),
                                 {"io.cncf.notary.x509chain.thumbprint#S256": '["ab"]'})
    registry.attach(v1["digest"], notation)
    sbom = registry.referrer(v1, EMPTY, (SPDX, b'{"spdxVersion":"SPDX-2.3"}'),
                             {"org.opencontainers.image.created": "2026-12-01T00:00:00Z"}, SPDX)
    registry.attach(v1["digest"], sbom)
    return v1, notation, sbom


def lost_update(registry):
    """Two clients sign v3 at once: both pull the empty list, the second push wins."""
    clean(registry)
    v3 = registry.subject("v3")
    signatures = [registry.referrer(v3, NOTARY, (JOSE, payload),
                                    {"io.cncf.notary.x509chain.thumbprint#S256": '["%s"]' % who})
                  for who, payload in (("first", b'{"payload":"Zmlyc3Q"}'),
                                       ("second", b'{"payload":"c2Vjb25k"}'))]
    for s in signatures:
        registry.manifest(s, MANIFEST, digest(s))
    lists = [registry.referrers_list(v3["digest"]) for _ in signatures]
    for listing, s in zip(lists, signatures):
        registry.push_referrers_list(v3["digest"], listing, s)


def entry_missing(registry):
    """The notation signature deleted by digest; the client did not update the index."""
    _, notation, _ = clean(registry)
    status, _, _ = registry.request("DELETE", f"/v2/app/manifests/{digest(notation)}")
    assert status == 202, status


def subject_deleted(registry):
    """v1 deleted by digest: its cosign tags and its fallback tag name nothing."""
    v1, _, _ = clean(registry)
    status, _, _ = registry.request("DELETE", f"/v2/app/manifests/{v1['digest']}")
    assert status == 202, status


def tag_not_index(registry):
    """v3's fallback tag made by copying an image to it (skopeo, by a user's mistake)."""
    clean(registry)
    v3 = registry.subject("v3")
    registry.skopeo("v1", v3["digest"].replace(":", "-"))


def entry_mismatch(registry):
    """v1's fallback tag rewritten by a client that drops the entries' artifactType."""
    v1, _, _ = clean(registry)
    tag = v1["digest"].replace(":", "-")
    listing = registry.referrers_list(v1["digest"])
    for entry in listing["manifests"]:
        entry.pop("artifactType", None)
    registry.manifest(json.dumps(listing, separators=(",", ":")).encode(), INDEX, tag)


def subject_mismatch(registry):
    """A signature of v3 pushed into v1's fallback index (a client given the wrong tag)."""
    v1, _, _ = clean(registry)
    v3 = registry.subject("v3")
    stray = registry.referrer(v3, NOTARY, (JOSE, b'{"payload":"djM"}'),
                              {"io.cncf.notary.x509chain.thumbprint#S256": '["c3"]'})
    registry.manifest(stray, MANIFEST, digest(stray))
    registry.push_referrers_list(v1["digest"], registry.referrers_list(v1["digest"]), stray)


CASES = [
    ("registry-referrers", "Debian docker-registry 2.8 root: skopeo-pushed images and cosign tags, "
     "a notation signature and an SPDX SBOM attached through the fallback tag by the spec's client",
     [], clean),
    ("registry-referrers-index-incomplete", "the registry root above, then two clients sign v3 at "
     "once and the second push of the fallback index loses the first signature",
     ["referrers-index-incomplete"], lost_update),
    ("registry-referrers-index-entry-missing", "the registry root above, then the notation "
     "signature deleted by digest without its fallback index entry (the index's earlier, "
     "untagged revision lists it too: an unlinked reference)",
     ["referrers-index-entry-missing", "registry-reference-unlinked"], entry_missing),
    ("registry-referrer-tag-orphaned", "the registry root above, then v1 deleted by digest: its "
     "cosign tags and fallback tag name nothing (the referrers stay as revisions)",
     ["blob-unreferenced", "referrer-tag-orphaned"], subject_deleted),
    ("registry-referrers-tag-not-index", "the registry root above, then skopeo copies v1 (an image "
     "manifest) to the fallback tag of v3", ["referrers-tag-not-index"], tag_not_index),
    ("registry-referrers-index-entry-mismatch", "the registry root above, then v1's fallback "
     "index rewritten without the entries' artifactType", ["referrers-index-entry-mismatch"],
     entry_mismatch),
    ("registry-referrers-tag-subject-mismatch", "the registry root above, then a signature of v3 "
     "listed in v1's fallback index", ["referrers-tag-subject-mismatch"], subject_mismatch),
]


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.join(REPO, "corpus", "distribution")
    for name, description, expect, build in CASES:
        case = os.path.join(out, name)
        if os.path.lexists(case):
            shutil.rmtree(case)
        root = os.path.join(case, "store")
        os.makedirs(root)
        registry = Registry(root)
        try:
            build(registry)
        finally:
            registry.stop()
        with open(os.path.join(case, "case.toml"), "w") as f:
            f.write(f"description = {json.dumps(description)}\n")
            f.write('kind = "distribution"\n')
            f.write("expect = [" + ", ".join(json.dumps(e) for e in sorted(expect)) + "]\n")
    print(f"wrote {len(CASES)} cases to {out}")


if __name__ == "__main__":
    main(sys.argv)
