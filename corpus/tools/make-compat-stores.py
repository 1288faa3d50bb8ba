#!/usr/bin/env python3
"""Write corpus/compat/: valid stores that exercise compatibility paths and must give zero
findings. Each case guards against a false positive that real registries would hit.

Usage: corpus/tools/make-compat-stores.py [OUTDIR]   (default: corpus/compat)

docker-and-artifacts/: a Docker schema 2 manifest list (Docker manifest, Docker config,
gzip rootfs layers, a zero-size layer) with a BuildKit attestation entry (unknown/unknown,
in-toto "layer", no diff_ids); the same Docker manifest tagged again directly; an entry
of an unknown media type (application/xml: "MUST NOT generate an error"); and an artifact
with a custom config type, a zstd layer with correct embedded `data`, and a `created`
annotation with fractional seconds and an offset.
"""
import base64, hashlib, json, os, shutil, sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "compat")


def docker_and_artifacts(case):
    store = os.path.join(case, "store")
    os.makedirs(os.path.join(store, "blobs", "sha256"))

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(store, "blobs", "sha256", digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    def doc(value):
        return blob(json.dumps(value, separators=(",", ":")).encode())

    with open(os.path.join(store, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    empty = blob(b"")
    layer = blob(b"layer-bytes")
    config = doc({"architecture": "arm", "variant": "v7", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": [layer["digest"], empty["digest"]]},
                  "config": {"Env": ["PATH=/bin"], "Cmd": None, "Labels": None}})
    docker = doc({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                  "config": {"mediaType": "application/vnd.docker.container.image.v1+json", **config},
                  "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", **layer},
                             {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", **empty}]})
    attestation_config = doc({"architecture": "unknown", "os": "unknown", "rootfs": {"type": "layers", "diff_ids": []}})
    attestation = doc({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **attestation_config},
                       "layers": [{"mediaType": "application/vnd.in-toto+json", **blob(b'{"_type":"x"}')}]})
    manifest_list = doc({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                         "manifests": [
                             {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", **docker,
                              "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
                             {"mediaType": "application/vnd.oci.image.manifest.v1+json", **attestation,
                              "platform": {"architecture": "unknown", "os": "unknown"},
                              "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                              "vnd.docker.reference.digest": docker["digest"]}}]})
    xml = blob(b"<xml/>")
    small = blob(b"tiny")
    artifact = doc({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.example.config+json", **blob(b"custom config, not json")},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", **small,
                                "data": base64.b64encode(b"tiny").decode()}],
                    "annotations": {"org.opencontainers.image.created": "2024-01-02T03:04:05.123+01:00"}})
    ref = lambda name: {"annotations": {"org.opencontainers.image.ref.name": name}}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", **manifest_list, **ref("docker-list")},
        {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", **docker, **ref("same-again")},
        {"mediaType": "application/xml", **xml},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", **artifact, **ref("custom-artifact")}]}
    with open(os.path.join(store, "index.json"), "w") as f:
        json.dump(index, f, separators=(",", ":"))
    with open(os.path.join(case, "case.toml"), "w") as f:
        f.write('description = "Docker schema 2 list with a BuildKit attestation, an unknown media type, '
                'an artifact with custom config, zstd layer and embedded data"\n'
                'kind = "oci-layout"\nexpect = []\n')


for name, make in [("docker-and-artifacts", docker_and_artifacts)]:
    case = os.path.join(out, name)
    shutil.rmtree(os.path.join(case, "store"), ignore_errors=True)
    os.makedirs(case, exist_ok=True)
    make(case)
