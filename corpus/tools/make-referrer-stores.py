#!/usr/bin/env python3
"""Regenerate the referrers corpus: OCI image layouts holding signatures, SBOMs and
attestations the three ways registries hold them, clean and with one fault each.

Usage: corpus/tools/make-referrer-stores.py [OUTDIR]
       (default OUTDIR: corpus/referrers relative to the repository root)

The clean case (`clean-referrers`) is a layout as a registry without the referrers
API leaves it (docker-registry 2.8), and as zot and oras write layouts:
  v1  an image signed by notation (a manifest with a subject, config type
      application/vnd.cncf.notary.signature) and by cosign (tag sha256-<hex>.sig,
      a simple-signing payload), with an SPDX SBOM as an OCI 1.1 artifact (empty
      config, artifactType application/spdx+json, a subject) and a SLSA provenance
      attestation from cosign (tag sha256-<hex>.att, a DSSE envelope annotated
      predicateType); the two subject manifests are listed in the fallback tag
      sha256-<hex>, an image index whose entries carry each referrer's
      artifactType and annotations (distribution-spec "Referrers Tag Schema");
  v2  a BuildKit image index: linux/amd64 and its attestation manifest
      (unknown/unknown, vnd.docker.reference.type attestation-manifest) with an
      SPDX and a SLSA in-toto layer;
  v3  an image nothing refers to.
Every other case is that layout with one fault. case.toml has `require` when the case
is audited with --require. Output is deterministic (stdlib only, no timestamps).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module

broken = import_module("make-broken-stores")
Store, desc, js, sha = broken.Store, broken.desc, broken.js, broken.sha
INDEX, MANIFEST, CONFIG, EMPTY, REF = (broken.INDEX, broken.MANIFEST, broken.CONFIG,
                                       broken.EMPTY, broken.REF)

NOTARY = "application/vnd.cncf.notary.signature"
JOSE = "application/jose+json"
SPDX = "application/spdx+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
EMPTY_JSON = b"{}"


def fallback_tag(digest):
    return digest.replace(":", "-")


class Referrers:
    """The clean layout's parts, to be put together with one fault."""

    def __init__(self):
        self.s = Store()
        s = self.s
        # v1, v3: plain images; v2: a BuildKit index with an attestation.
        m1, _ = s.image(layers=(b"v1 layer\n",))
        m3, _ = s.image(layers=(b"v3 layer\n",))
        self.v1, self.v3 = s.blob(m1), s.blob(m3)
        self.v1_desc = desc(MANIFEST, m1)
        self.v1_digest = self.v1_desc["digest"]
        amd64, _ = s.image(layers=(b"v2 layer\n",))
        s.blob(amd64)
        self.v2 = s.blob(js({
            "schemaVersion": 2, "mediaType": INDEX,
            "manifests": [
                desc(MANIFEST, amd64, platform={"architecture": "amd64", "os": "linux"}),
                desc(MANIFEST, self.attestation(amd64),
                     platform={"architecture": "unknown", "os": "unknown"},
                     annotations={"vnd.docker.reference.type": "attestation-manifest",
                                  "vnd.docker.reference.digest": "sha256:" + sha(amd64)}),
            ]}))
        s.blob(EMPTY_JSON)
        self.notation = self.referrer(
            config=desc(NOTARY, EMPTY_JSON), layer=(JOSE, b'{"payload":"eyJ0YXJnZXRBcnRpZmFjdCI6e319"}'),
            annotations={"io.cncf.notary.x509chain.thumbprint#S256": '["b1c2"]'})
        self.sbom = self.referrer(
            config=desc(EMPTY, EMPTY_JSON), layer=(SPDX, b'{"spdxVersion":"SPDX-2.3"}'),
            artifact_type=SPDX, annotations={"org.opencontainers.image.created": "2026-12-01T00:00:00Z"})
        self.sig = self.cosign(SIMPLE_SIGNING, js({
            "critical": {"identity": {"docker-reference": "example.com/app"},
                         "image": {"docker-manifest-digest": self.v1_digest},
                         "type": "cosign container image signature"}, "optional": None}),
            {"dev.cosignproject.cosign/signature": "MEUCIQ"})
        self.att = self.cosign(DSSE, js({
            "payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}),
            {"predicateType": "https://slsa.dev/provenance/v0.2"})

    def attestation(self, image):
        s = self.s
        layers = [(b'{"predicateType":"https://spdx.dev/Document"}', "https://spdx.dev/Document"),
                  (b'{"predicateType":"https://slsa.dev/provenance/v0.2"}', "https://slsa.dev/provenance/v0.2")]
        for data, _ in layers:
            s.blob(data)
        config = js({"architecture": "unknown", "os": "unknown", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(d) for d, _ in layers]}})
        s.blob(config)
        return s.blob(js({
            "schemaVersion": 2, "mediaType": MANIFEST, "config": desc(CONFIG, config),
            "layers": [desc(IN_TOTO, d, annotations={"in-toto.io/predicate-type": p}) for d, p in layers]}))

    def referrer(self, config, layer, annotations, artifact_type=None, subject=None):
        """A manifest with a subject (v1 by default); returns its bytes."""
        s = self.s
        s.blob(layer[1])
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST}
        if artifact_type:
            manifest["artifactType"] = artifact_type
        manifest.update({"config": config, "layers": [desc(layer[0], layer[1])],
                         "subject": subject or self.v1_desc, "annotations": annotations})
        return js(manifest)

    def cosign(self, layer_type, payload, annotations):
        """A cosign manifest (image config with an empty os and architecture)."""
        s = self.s
        s.blob(payload)
        config = js({"architecture": "", "os": "", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(payload)]}})
        s.blob(config)
        return js({"schemaVersion": 2, "mediaType": MANIFEST, "config": desc(CONFIG, config),
                   "layers": [desc(layer_type, payload, annotations=annotations)]})

    @staticmethod
    def entry(manifest, **override):
        """The referrers-list descriptor of a referrer: its artifactType (else its
        config's mediaType) and its annotations (distribution-spec)."""
        m = json.loads(manifest)
        extra = {"artifactType": m.get("artifactType") or m["config"]["mediaType"]}
        if m.get("annotations"):
            extra["annotations"] = m["annotations"]
        extra.update(override)
        return desc(MANIFEST, manifest, **extra)

    def fallback_index(self, entries):
        return self.s.blob(js({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}))

    def write_index(self, *, fallback_entries=None, fallback=None, untagged=(), extra_tags=(),
                    sig_tag=None, stored=None):
        """index.json: v1, v2, v3, the cosign tags, the fallback tag, and `untagged`
        referrers; `stored` referrers are written as blobs (default: both)."""
        s = self.s
        for m in (self.notation, self.sbom) if stored is None else stored:
            s.blob(m)
        s.blob(self.sig)
        s.blob(self.att)
        if fallback is None:
            entries = fallback_entries if fallback_entries is not None else [
                self.entry(self.notation), self.entry(self.sbom)]
            fallback = desc(INDEX, self.fallback_index(entries))
        tag = fallback_tag(self.v1_digest)
        s.index_json(
            desc(MANIFEST, self.v1, annotations={REF: "v1"}),
            desc(INDEX, self.v2, annotations={REF: "v2"}),
            desc(MANIFEST, self.v3, annotations={REF: "v3"}),
            desc(MANIFEST, self.sig, annotations={REF: sig_tag or tag + ".sig"}),
            desc(MANIFEST, self.att, annotations={REF: tag + ".att"}),
            dict(fallback, annotations={REF: tag}),
            *untagged, *extra_tags)
        return s


CASES = []


def case(name, description, expect, require=()):
    def register(fn):
        CASES.append((name, description, sorted(set(expect)), list(require), fn))
        return fn
    return register


@case("clean-referrers",
      "v1 signed by notation and cosign with an SPDX SBOM and SLSA provenance (fallback tag and cosign tags), "
      "v2 a BuildKit index with its attestation, v3 unsigned; audited with --require sbom",
      ["tag-sbom-missing"], require=["sbom"])
def _():
    return Referrers().write_index()


@case("referrers-index-entry-missing",
      "the fallback tag's index lists the notation signature, which is not in the store",
      ["referrers-index-entry-missing"])
def _():
    r = Referrers()
    s = r.write_index(stored=[r.sbom])
    # The notation signature's own layer goes with it (else it would be unreferenced).
    layer = json.loads(r.notation)["layers"][0]["digest"].split(":")[1]
    del s.files["blobs/sha256/" + layer]
    return s


@case("referrers-index-incomplete",
      "the SBOM (a manifest with subject v1) is missing from v1's fallback index: the lost update",
      ["referrers-index-incomplete"])
def _():
    r = Referrers()
    return r.write_index(fallback_entries=[r.entry(r.notation)],
                         untagged=[r.entry(r.sbom)])


@case("referrers-index-entry-mismatch",
      "the fallback index entry of the SBOM says artifactType application/vnd.cyclonedx+json",
      ["referrers-index-entry-mismatch"])
def _():
    r = Referrers()
    return r.write_index(fallback_entries=[
        r.entry(r.notation), r.entry(r.sbom, artifactType="application/vnd.cyclonedx+json")])


@case("referrers-index-entry-mismatch-2",
      "the fallback index entry of the notation signature lacks the manifest's thumbprint annotation",
      ["referrers-index-entry-mismatch"])
def _():
    r = Referrers()
    return r.write_index(fallback_entries=[r.entry(r.notation, annotations={}), r.entry(r.sbom)])


@case("referrers-tag-not-index",
      "v1's fallback tag holds the notation signature manifest itself, not an image index",
      ["referrers-tag-not-index"])
def _():
    r = Referrers()
    # The SBOM stays reachable as an untagged entry, as zot lists referrers.
    return r.write_index(fallback=desc(MANIFEST, r.notation), stored=[r.notation, r.sbom],
                         untagged=[r.entry(r.sbom)])


@case("referrers-tag-subject-mismatch",
      "v1's fallback index also lists a signature whose subject is v3",
      ["referrers-tag-subject-mismatch"])
def _():
    r = Referrers()
    v3 = desc(MANIFEST, r.v3)
    stray = r.referrer(config=desc(NOTARY, EMPTY_JSON), layer=(JOSE, b'{"payload":"djM="}'),
                       annotations={"io.cncf.notary.x509chain.thumbprint#S256": '["c3"]'}, subject=v3)
    r.s.blob(stray)
    return r.write_index(fallback_entries=[r.entry(r.notation), r.entry(r.sbom), r.entry(stray)])


@case("referrer-tag-orphaned",
      "a cosign signature tag names sha256 digest of an image deleted from the layout",
      ["referrer-tag-orphaned"])
def _():
    r = Referrers()
    return r.write_index(sig_tag=fallback_tag("sha256:" + sha(b"an image deleted long ago")) + ".sig")


@case("tag-referrers-required",
      "v3 has no signature, SBOM or provenance, and v2 no signature; audited with --require signature,sbom,provenance",
      ["tag-signature-missing", "tag-sbom-missing", "tag-provenance-missing"],
      require=["signature", "sbom", "provenance"])
def _():
    return Referrers().write_index()


def main(argv):
    return broken.write_cases(argv, __doc__, "referrers",
                              [(name, description, expect, build,
                                {"require": require} if require else {})
                               for name, description, expect, require, build in CASES])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
