#!/usr/bin/env python3
"""Regenerate the broken-layout corpus: one tiny OCI image layout per defect.

Usage: corpus/tools/make-broken-stores.py [OUTDIR]
       (default OUTDIR: corpus/layout relative to the repository root)

For every case below this writes OUTDIR/<case>/store/ (the smallest OCI image
layout exhibiting one defect) and OUTDIR/<case>/case.toml:

    description = "one line: what is broken"
    kind = "oci-layout"
    expect = ["rule-id", ...]   # exact sorted set of rule ids the audit reports

Each case starts from the same valid base (case `clean-base`, expect = []):
oci-layout 1.0.0, index.json with one tagged ("v1") OCI image manifest, an
image config (linux/amd64, one diff_id per layer) and one tiny layer blob.
Only the case directories named here are deleted and recreated; anything else
in OUTDIR is left alone. Output is deterministic (stdlib only, no timestamps).

Rules without a case (see `oci-audit rules --explain ID`):
  document-too-large           needs a document > 8 MiB by default; the tests
                               use --max-document-size instead
  index-cycle                  not constructible: with real sha256 content
                               addressing an index cannot name its own digest
  io-error                     unreadable files cannot be committed portably
  document-media-type-missing  off by default
Every store avoids empty directories, which git would not keep.
"""
import base64
import hashlib
import json
import os
import shutil
import sys

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json"
REF = "org.opencontainers.image.ref.name"
CREATED = "org.opencontainers.image.created"
LAYER1 = b"layer one\n"
LAYER2 = b"layer two\n"
AMD64 = {"architecture": "amd64", "os": "linux"}


def js(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def desc(media_type, content, **extra):
    d = {"mediaType": media_type, "digest": "sha256:" + sha(content), "size": len(content)}
    d.update(extra)
    return d


class Store:
    """Files of one layout, relative path -> bytes."""

    def __init__(self):
        self.files = {"oci-layout": js({"imageLayoutVersion": "1.0.0"})}

    def blob(self, data, alg="sha256", name=None):
        self.files[f"blobs/{alg}/{name or sha(data)}"] = data
        return data

    def index_json(self, *entries):
        self.files["index.json"] = js(
            {"schemaVersion": 2, "mediaType": INDEX, "manifests": list(entries)})

    def image(self, layers=(LAYER1,), config=None, layer_descs=None, diff_ids=None,
              manifest_extra=None, put_layers=True, put_config=True):
        """Add an image's blobs; return (manifest bytes, config bytes)."""
        if put_layers:
            for layer in layers:
                self.blob(layer)
        if config is None:
            config = dict(AMD64)
            config["rootfs"] = {"type": "layers", "diff_ids": diff_ids if diff_ids is not None
                                else ["sha256:" + sha(l) for l in layers]}
        cfg = js(config)
        if put_config:
            self.blob(cfg)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": desc(CONFIG, cfg),
            "layers": layer_descs if layer_descs is not None
            else [desc(LAYER, l) for l in layers],
        }
        manifest.update(manifest_extra or {})
        return js(manifest), cfg

    def tagged(self, manifest, media_type=MANIFEST, ref="v1", **extra):
        """Store `manifest`; index.json gets one entry naming it, tagged `ref`."""
        self.blob(manifest)
        self.index_json(desc(media_type, manifest, annotations={REF: ref}, **extra))

    def write(self, root):
        for rel, data in sorted(self.files.items()):
            path = os.path.join(root, *rel.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)


def base(**image_kw):
    s = Store()
    m, _ = s.image(**image_kw)
    s.tagged(m)
    return s


CASES = []


def case(name, description, expect):
    def register(fn):
        CASES.append((name, description, sorted(set(expect)), fn))
        return fn
    return register


@case("clean-base", "valid base: one tag v1, an OCI image manifest, a linux/amd64 config, one layer", [])
def _():
    return base()


# ---- layout -----------------------------------------------------------------

@case("layout-marker-missing", "the oci-layout file is absent (base otherwise intact)",
      ["layout-marker-missing"])
def _():
    s = base()
    del s.files["oci-layout"]
    return s


@case("layout-version-unsupported", "oci-layout says imageLayoutVersion 2.0.0",
      ["layout-version-unsupported"])
def _():
    s = base()
    s.files["oci-layout"] = js({"imageLayoutVersion": "2.0.0"})
    return s


@case("layout-blobs-missing", "no blobs/ directory; index.json has no entries so nothing else is missing",
      ["layout-blobs-missing"])
def _():
    s = Store()
    s.index_json()
    return s


@case("layout-blobs-missing-2",
      "no blobs/ directory while index.json names a manifest, which is then missing too",
      ["descriptor-blob-missing", "layout-blobs-missing"])
def _():
    s = base()
    s.files = {k: v for k, v in s.files.items() if not k.startswith("blobs/")}
    return s


@case("index-json-missing",
      "index.json is absent; the base's blobs stay (unreferenced: nothing is reachable without index.json)",
      ["blob-unreferenced", "index-json-missing"])
def _():
    s = base()
    del s.files["index.json"]
    return s


# ---- blobs ------------------------------------------------------------------

@case("blob-name-invalid", "a copy of the layer blob named with upper-case hex under blobs/sha256/",
      ["blob-name-invalid"])
def _():
    s = base()
    s.blob(LAYER1, name=sha(LAYER1).upper())
    return s


@case("blob-name-invalid-2", "a stray temporary file blobs/sha256/tmp-4242 left by a writer",
      ["blob-name-invalid"])
def _():
    s = base()
    s.blob(b"partial", name="tmp-4242")
    return s


@case("blob-name-invalid-3", "a sha256 blob name of 63 hex digits (one short)",
      ["blob-name-invalid"])
def _():
    s = base()
    s.blob(b"short\n", name=sha(b"short\n")[:63])
    return s


@case("blob-name-invalid-4", "a regular file blobs/README directly under blobs/, outside any algorithm directory",
      ["blob-name-invalid"])
def _():
    s = base()
    s.files["blobs/README"] = b"not a blob\n"
    return s


@case("blob-not-regular",
      "blobs/sha256/<hex> is a directory (holding one file, so git keeps it), not a regular file",
      ["blob-not-regular"])
def _():
    s = base()
    s.files[f"blobs/sha256/{sha(b'dir')}/file"] = b"dir"
    return s


@case("blob-digest-mismatch", "the layer blob's content was altered in place (same size, old name)",
      ["blob-digest-mismatch"])
def _():
    s = base()
    s.files["blobs/sha256/" + sha(LAYER1)] = b"layer ONE\n"
    return s


@case("blob-unreferenced", "an extra blob no descriptor names", ["blob-unreferenced"])
def _():
    s = base()
    s.blob(b"orphan\n")
    return s


def b64_digest(data):
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


@case("blob-unverifiable",
      "the layer is named by an unregistered algorithm (sha256+b64:<base64url>) and stored under blobs/sha256+b64/",
      ["blob-unverifiable"])
def _():
    s = Store()
    enc = b64_digest(LAYER1)
    s.blob(LAYER1, alg="sha256+b64", name=enc)
    layer = {"mediaType": LAYER, "digest": "sha256+b64:" + enc, "size": len(LAYER1)}
    m, _ = s.image(layer_descs=[layer], put_layers=False)
    s.tagged(m)
    return s


@case("blob-unverifiable-2",
      "an unreferenced blob under blobs/sha256+b64/ (unverifiable, and unreferenced as well)",
      ["blob-unreferenced", "blob-unverifiable"])
def _():
    s = base()
    s.blob(b"orphan\n", alg="sha256+b64", name=b64_digest(b"orphan\n"))
    return s


# ---- descriptors --------------------------------------------------------------

@case("descriptor-blob-missing", "the layer blob named by the manifest is absent",
      ["descriptor-blob-missing"])
def _():
    s = base()
    del s.files["blobs/sha256/" + sha(LAYER1)]
    return s


@case("descriptor-blob-missing-2", "a second index.json entry (tag v2) names a manifest that is absent",
      ["descriptor-blob-missing"])
def _():
    s = Store()
    m1, _ = s.image()
    s.blob(m1)
    m2 = js({"schemaVersion": 2, "mediaType": MANIFEST, "absent": True})
    s.index_json(desc(MANIFEST, m1, annotations={REF: "v1"}),
                 desc(MANIFEST, m2, annotations={REF: "v2"}))
    return s


@case("descriptor-blob-external",
      "the layer is absent but its descriptor has urls (non-distributable layer)",
      ["descriptor-blob-external"])
def _():
    s = Store()
    m, _ = s.image(put_layers=False,
                   layer_descs=[desc(LAYER, LAYER1, urls=["https://example.com/layer"])])
    s.tagged(m)
    return s


@case("descriptor-size-mismatch", "the layer descriptor's size is one byte too large",
      ["descriptor-size-mismatch"])
def _():
    s = Store()
    layer = desc(LAYER, LAYER1)
    layer["size"] += 1
    m, _ = s.image(layer_descs=[layer])
    s.tagged(m)
    return s


@case("descriptor-size-mismatch-2", "the index.json entry's size for the manifest is one byte too small",
      ["descriptor-size-mismatch"])
def _():
    s = Store()
    m, _ = s.image()
    s.tagged(m, size=len(m) - 1)
    return s


@case("descriptor-digest-invalid",
      "the layer digest is upper-case hex, so it names nothing and the real layer blob is unreferenced",
      ["blob-unreferenced", "descriptor-digest-invalid"])
def _():
    s = Store()
    layer = desc(LAYER, LAYER1)
    layer["digest"] = "sha256:" + sha(LAYER1).upper()
    m, _ = s.image(layer_descs=[layer])
    s.tagged(m)
    return s


@case("descriptor-digest-invalid-2",
      "the layer digest has no algorithm (bare hex), so the real layer blob is unreferenced",
      ["blob-unreferenced", "descriptor-digest-invalid"])
def _():
    s = Store()
    layer = desc(LAYER, LAYER1)
    layer["digest"] = sha(LAYER1)
    m, _ = s.image(layer_descs=[layer])
    s.tagged(m)
    return s


@case("descriptor-media-type-invalid", "the layer mediaType 'application/vnd oci layer' breaks RFC 6838",
      ["descriptor-media-type-invalid"])
def _():
    s = Store()
    m, _ = s.image(layer_descs=[desc("application/vnd oci layer", LAYER1)])
    s.tagged(m)
    return s


@case("descriptor-media-type-invalid-2", "the manifest's artifactType 'not-a-media-type' breaks RFC 6838",
      ["descriptor-media-type-invalid"])
def _():
    s = base(manifest_extra={"artifactType": "not-a-media-type"})
    return s


@case("descriptor-media-type-mismatch",
      "the index.json entry says image index but the blob is an image manifest with the manifest mediaType",
      ["descriptor-media-type-mismatch"])
def _():
    s = Store()
    m, _ = s.image()
    s.tagged(m, media_type=INDEX)
    return s


@case("descriptor-media-type-mismatch-2",
      "the index.json entry says image manifest but the blob is an image index (mediaType index) of the manifest",
      ["descriptor-media-type-mismatch"])
def _():
    s = Store()
    m, _ = s.image()
    s.blob(m)
    idx = s.blob(js({"schemaVersion": 2, "mediaType": INDEX,
                     "manifests": [desc(MANIFEST, m, platform=dict(AMD64))]}))
    s.tagged(idx, media_type=MANIFEST)
    return s


@case("descriptor-media-type-variant",
      "the index.json entry says Docker schema 2 manifest but the blob is an OCI image manifest "
      "(same shape, other type: media-types.md lets readers warn)",
      ["descriptor-media-type-variant"])
def _():
    s = Store()
    m, _ = s.image()
    s.tagged(m, media_type=DOCKER_MANIFEST)
    return s


@case("document-schema-invalid-3",
      "index.json's own mediaType is a Docker manifest list; image-index.md says it MUST be the OCI index type",
      ["document-schema-invalid"])
def _():
    s = base()
    index = json.loads(s.files["index.json"])
    index["mediaType"] = DOCKER_LIST
    s.files["index.json"] = js(index)
    return s


@case("artifact-manifest-withdrawn",
      "a signature stored as an OCI artifact manifest (image-spec 1.1.0-rc2, withdrawn), "
      "its blob and subject followed, no schema errors for fields it never had",
      ["artifact-manifest-withdrawn"])
def _():
    s = Store()
    m, _ = s.image()
    s.blob(m)
    signature = s.blob(b"not really a signature\n")
    artifact = s.blob(js({
        "mediaType": ARTIFACT_MANIFEST,
        "artifactType": "application/vnd.example.signature.v1",
        "blobs": [desc("application/octet-stream", signature)],
        "subject": desc(MANIFEST, m),
    }))
    s.index_json(desc(MANIFEST, m, annotations={REF: "v1"}),
                 desc(ARTIFACT_MANIFEST, artifact, annotations={REF: "v1.sig"}))
    return s


@case("descriptor-data-mismatch",
      "the layer descriptor embeds data whose base64 decodes to other bytes (same length) than the layer",
      ["descriptor-data-mismatch"])
def _():
    s = Store()
    other = b"layer 1!!\n"
    assert len(other) == len(LAYER1)
    layer = desc(LAYER, LAYER1, data=base64.b64encode(other).decode())
    m, _ = s.image(layer_descs=[layer])
    s.tagged(m)
    return s


# ---- documents ----------------------------------------------------------------

@case("document-json-invalid",
      "the manifest is truncated JSON (blob named by the sha256 of the truncated bytes; its config and layer are not stored)",
      ["document-json-invalid"])
def _():
    s = Store()
    m, _ = s.image(put_layers=False, put_config=False)
    s.tagged(m[: len(m) // 2])
    return s


@case("document-json-invalid-2", "the image config is truncated JSON (blob named by its sha256, descriptor size matches)",
      ["document-json-invalid"])
def _():
    s = Store()
    s.blob(LAYER1)
    full = js(dict(AMD64, rootfs={"type": "layers", "diff_ids": ["sha256:" + sha(LAYER1)]}))
    cfg = s.blob(full[:-5])
    m = js({"schemaVersion": 2, "mediaType": MANIFEST, "config": desc(CONFIG, cfg),
            "layers": [desc(LAYER, LAYER1)]})
    s.tagged(m)
    return s


@case("document-json-invalid-3", "the oci-layout file is truncated JSON",
      ["document-json-invalid"])
def _():
    s = base()
    s.files["oci-layout"] = s.files["oci-layout"][:-3]
    return s


@case("document-schema-invalid", 'the image config has "os": 123', ["document-schema-invalid"])
def _():
    config = dict(AMD64, os=123,
                  rootfs={"type": "layers", "diff_ids": ["sha256:" + sha(LAYER1)]})
    return base(config=config)


@case("document-schema-invalid-2", "the manifest has no config", ["document-schema-invalid"])
def _():
    s = Store()
    s.blob(LAYER1)
    m = js({"schemaVersion": 2, "mediaType": MANIFEST, "layers": [desc(LAYER, LAYER1)]})
    s.tagged(m)
    return s


# ---- manifests ------------------------------------------------------------------

@case("manifest-ambiguous", 'the image manifest also has "manifests": []', ["manifest-ambiguous"])
def _():
    return base(manifest_extra={"manifests": []})


@case("manifest-artifact-type-missing",
      "the manifest's config is the empty descriptor ({}) and it sets no artifactType",
      ["manifest-artifact-type-missing"])
def _():
    s = Store()
    s.blob(LAYER1)
    empty = s.blob(b"{}")
    m = js({"schemaVersion": 2, "mediaType": MANIFEST, "config": desc(EMPTY, empty),
            "layers": [desc(LAYER, LAYER1)]})
    s.tagged(m)
    return s


@case("manifest-layers-empty", "the image manifest has layers [] (config diff_ids [] to match)",
      ["manifest-layers-empty"])
def _():
    return base(layers=())


@case("config-diff-ids-mismatch", "the manifest has two layers but the config lists one diff_id",
      ["config-diff-ids-mismatch"])
def _():
    return base(layers=(LAYER1, LAYER2), diff_ids=["sha256:" + sha(LAYER1)])


# ---- indexes ---------------------------------------------------------------------

def nested(s, *entries):
    """index.json -> a nested image index blob holding `entries`."""
    idx = s.blob(js({"schemaVersion": 2, "mediaType": INDEX, "manifests": list(entries)}))
    s.tagged(idx, media_type=INDEX)


@case("index-platform-missing",
      "index.json names a nested image index whose entry for the image manifest has no platform",
      ["index-platform-missing"])
def _():
    s = Store()
    m, _ = s.image()
    s.blob(m)
    nested(s, desc(MANIFEST, m))
    return s


@case("index-platform-duplicate",
      "a nested image index has two entries (different images) both claiming linux/amd64",
      ["index-platform-duplicate"])
def _():
    s = Store()
    m1, _ = s.image(layers=(LAYER1,))
    m2, _ = s.image(layers=(LAYER2,))
    s.blob(m1)
    s.blob(m2)
    nested(s, desc(MANIFEST, m1, platform=dict(AMD64)),
           desc(MANIFEST, m2, platform=dict(AMD64)))
    return s


@case("index-manifest-missing",
      "a sparse index, as `oras copy --platform` leaves one: the linux/arm64 image of a "
      "two-platform index is absent, the linux/amd64 one present",
      ["index-manifest-missing"])
def _():
    s = Store()
    m, _ = s.image()
    s.blob(m)
    absent = js({"schemaVersion": 2, "mediaType": MANIFEST, "absent": "arm64"})
    nested(s, desc(MANIFEST, m, platform=dict(AMD64)),
           desc(MANIFEST, absent, platform={"architecture": "arm64", "os": "linux"}))
    return s


@case("index-platform-mismatch",
      "a nested image index entry says linux/arm64 but the image config says linux/amd64",
      ["index-platform-mismatch"])
def _():
    s = Store()
    m, _ = s.image()
    s.blob(m)
    nested(s, desc(MANIFEST, m, platform={"architecture": "arm64", "os": "linux"}))
    return s


# ---- subject, annotations --------------------------------------------------------------

@case("subject-missing", "the manifest's subject names a manifest digest absent from the store",
      ["subject-missing"])
def _():
    s = Store()
    absent = js({"schemaVersion": 2, "mediaType": MANIFEST, "absent": True})
    m, _ = s.image(manifest_extra={"subject": desc(MANIFEST, absent)})
    s.tagged(m)
    return s


@case("annotation-value-invalid", 'the manifest annotates org.opencontainers.image.created = "yesterday"',
      ["annotation-value-invalid"])
def _():
    return base(manifest_extra={"annotations": {CREATED: "yesterday"}})


# ref.name belongs on index.json's descriptors (image-layout.md); this is where
# the grammar check must apply, not only index.json's own top-level annotations.
@case("annotation-value-invalid-2", 'the index.json entry\'s ref.name is "bad tag!" (outside the ref grammar)',
      ["annotation-value-invalid"])
def _():
    s = Store()
    m, _ = s.image()
    s.tagged(m, ref="bad tag!")
    return s


def toml_str(s):
    return json.dumps(s)  # a JSON string of ASCII text is a valid TOML basic string


def write_case_toml(d, description, kind, expect, extra=None):
    """Writes d/case.toml: the case's description, the store kind the audit must report,
    the rule ids it must give, and further lists (such as `require`)."""
    with open(os.path.join(d, "case.toml"), "w") as f:
        f.write(f"description = {toml_str(description)}\n")
        f.write(f"kind = {toml_str(kind)}\n")
        f.write("expect = [" + ", ".join(toml_str(e) for e in expect) + "]\n")
        for key, values in (extra or {}).items():
            f.write(f"{key} = [" + ", ".join(toml_str(v) for v in values) + "]\n")


def write_cases(argv, doc, group, cases):
    """The command line of a corpus generator: writes every case of `cases`, each
    (name, description, expect, build, extra) where `extra` holds further case.toml lists
    (such as `require`), to OUTDIR/<name>/{store/, case.toml} (OUTDIR: argv[1], else
    corpus/<group>), replacing only those case directories."""
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        sys.stdout.write(doc)
        return 0 if len(argv) == 2 else 2
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = argv[1] if len(argv) == 2 else os.path.join(repo, "corpus", group)
    os.makedirs(out, exist_ok=True)
    names = [c[0] for c in cases]
    assert len(names) == len(set(names)), "duplicate case name"
    for name, description, expect, build, extra in cases:
        d = os.path.join(out, name)
        if os.path.lexists(d):
            shutil.rmtree(d)
        build().write(os.path.join(d, "store"))
        write_case_toml(d, description, "oci-layout", expect, extra)
    print(f"wrote {len(cases)} cases to {out}")
    return 0


def main(argv):
    return write_cases(argv, __doc__, "layout",
                       [(name, description, expect, build, {})
                        for name, description, expect, build in CASES])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
