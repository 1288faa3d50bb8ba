#!/usr/bin/env python3
"""make-broken-registry.py — corrupt copies of the real Distribution root, one rule each.

Usage: corpus/tools/make-broken-registry.py [OUTDIR]   (default: corpus/distribution)

The source is corpus/distribution/registry-2.8/store, written by Debian's docker-registry
2.8.2 (make-registry-store.sh). Each case starts from that store as garbage collection
would leave it (the deleted image's repository and blobs gone, no uploads), so that the
one corruption the case makes is all the audit reports, plus what a user would see follow
from it (a zero-byte layer link also leaves that layer unlinked for its manifest).
Each case directory gets store/ and case.toml; tests/corpus.rs asserts the rule ids.
"""

import hashlib
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "distribution" / "registry-2.8" / "store"
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "distribution"
V2 = Path("docker/registry/v2")

# Digests of the real store (stable: the pushes are of committed, deterministic layouts).
APP_V1 = "88d406bfdf41bec031b2ef776b2cf1bb87e641200dece3a1f02c571944860042"
APP_V0_OLD = "4f764ca6d4933aec3f39b9c0f81c9c64a69bf218af386016ea1f39317f8c9d27"
DOCKER_V2S2 = "d7d3d3d34215f3be186550e831c9cc63ee8ccc3e7b7d34176e0380d48410375b"
MULTI_INDEX = "33f4557614d91672cfff5698940109858ce4e01c14ec96c9fa4cbe26331bf1c0"
MULTI_ARMV7 = "aff6f36c9b8e5ea86409738194566fb5bb9c7e063b669bea46083af0d439354d"
GONE = [
    "f8e0a6a8942ef4de249ef0731d85efd0eda3cd8e2663d27f8d4fee8b84a6211f",
    "f00fe49345ff3d97dfa46908ced0e1834e4be46398a6b80544f088a79a861886",
    "4b1be9ed1bb2d8f563c1669c9237dc9c38568ef96252de33ebcb09336c9de147",
]


def blob_dir(v2: Path, hex_: str) -> Path:
    return v2 / "blobs" / "sha256" / hex_[:2] / hex_


def manifest(v2: Path, hex_: str) -> dict:
    return json.loads((blob_dir(v2, hex_) / "data").read_bytes())


def case(name: str, description: str, expect: list, corrupt) -> None:
    dest = OUT / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    store = dest / "store"
    shutil.copytree(SOURCE, store, symlinks=True)
    v2 = store / V2
    # As garbage collection would leave it: the deleted image and the upload gone.
    shutil.rmtree(v2 / "repositories/library/gone")
    for hex_ in GONE:
        shutil.rmtree(blob_dir(v2, hex_))
    for uploads in (v2 / "repositories").rglob("_uploads"):
        for upload in uploads.iterdir():
            shutil.rmtree(upload)
    corrupt(v2)
    ids = ", ".join(f'"{e}"' for e in sorted(expect))
    (dest / "case.toml").write_text(
        f'description = "{description}"\nkind = "distribution"\nexpect = [{ids}]\n'
    )


def write(path: Path, content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())


def put_blob(v2: Path, content: bytes) -> str:
    hex_ = hashlib.sha256(content).hexdigest()
    write(blob_dir(v2, hex_) / "data", content)
    return hex_


def link(v2: Path, repo: str, relative: str, digest_hex: str) -> None:
    write(v2 / "repositories" / repo / relative, "sha256:" + digest_hex)


# ------------------------------------------------------------------ cases


def wrong_shard(v2):
    # A copy of a blob in a shard that is not its digest's first two characters, and a
    # digest directory holding a partial copy instead of its data file (git keeps no
    # empty directories, so the case needs a file there).
    shutil.copytree(blob_dir(v2, APP_V1), v2 / "blobs/sha256/00" / APP_V1)
    write(blob_dir(v2, "ab" + "0" * 62) / "data.partial", b"interrupted")


case("registry-blob-path-invalid",
     "a blob copied into the wrong shard, and a digest directory with a partial copy instead of its data file",
     ["registry-blob-path-invalid"], wrong_shard)


def zero_byte_history_link(v2):
    path = v2 / "repositories/library/app/_manifests/tags/v0/index/sha256" / APP_V0_OLD / "link"
    path.write_bytes(b"")


case("registry-link-invalid",
     "a zero-byte link in a tag's history (a crash or full disk mid-write)",
     ["registry-link-invalid"], zero_byte_history_link)


def zero_byte_layer_link(v2):
    config = manifest(v2, DOCKER_V2S2)["config"]["digest"].split(":")[1]
    (v2 / "repositories/library/docker/_layers/sha256" / config / "link").write_bytes(b"")


case("registry-link-invalid-2",
     "a zero-byte _layers link of a manifest's config: the link is corrupt and the config is unlinked, so pulls fail",
     ["registry-link-invalid", "registry-reference-unlinked"], zero_byte_layer_link)


def garbled_links(v2):
    # A revision link holding another digest, and a history link that is not a digest.
    link(v2, "library/app", f"_manifests/tags/v0/index/sha256/{APP_V0_OLD}/link", APP_V1)
    write(v2 / "repositories/library/multi/_manifests/tags/latest/index/sha256/"
          / ("0" * 64) / "link", "sha256:" + MULTI_INDEX)


case("registry-link-path-mismatch",
     "tag-history links holding a digest other than the one their path names",
     ["registry-link-path-mismatch"], garbled_links)


def lost_revision_blob(v2):
    # The untagged revision of library/app loses its blob; its history link is left behind.
    shutil.rmtree(blob_dir(v2, APP_V0_OLD))


case("registry-link-target-missing",
     "a manifest revision whose blob is gone: one finding, though its tag-history link names it too",
     ["registry-link-target-missing"], lost_revision_blob)


def partial_mirror(v2):
    # A mirror that pulled only some platforms of library/multi:latest: the arm/v7 image
    # (manifest, config, layers) was never stored, so its revision and layer links are
    # absent too.
    armv7 = manifest(v2, MULTI_ARMV7)
    repo = v2 / "repositories/library/multi"
    for descriptor in [armv7["config"], *armv7["layers"]]:
        hex_ = descriptor["digest"].split(":")[1]
        shutil.rmtree(blob_dir(v2, hex_))
        shutil.rmtree(repo / "_layers/sha256" / hex_)
    shutil.rmtree(blob_dir(v2, MULTI_ARMV7))
    shutil.rmtree(repo / "_manifests/revisions/sha256" / MULTI_ARMV7)


case("index-manifest-missing",
     "a sparse index in a mirror: the linux/arm/v7 image of library/multi:latest was never stored",
     ["index-manifest-missing"], partial_mirror)


def lost_layer(v2):
    layer = manifest(v2, MULTI_ARMV7)["layers"][0]["digest"].split(":")[1]
    shutil.rmtree(blob_dir(v2, layer))


case("registry-link-target-missing-2",
     "a layer of a linked manifest is gone: its _layers link names nothing and the manifest's descriptor names a missing blob",
     ["registry-link-target-missing", "descriptor-blob-missing"], lost_layer)


def leftover_layer_link(v2):
    link(v2, "library/app", f"_layers/sha256/{'e' * 64}/link", "e" * 64)


case("registry-link-dangling",
     "a _layers link to a blob garbage collection removed (distribution 2.x leaves these)",
     ["registry-link-dangling"], leftover_layer_link)


def tag_without_revision(v2):
    # What deleting a revision by hand leaves: the tag still points at it.
    (v2 / "repositories/library/docker/_manifests/revisions/sha256" / DOCKER_V2S2 / "link").unlink()


case("registry-tag-revision-missing",
     "a tag whose manifest has no revision link (and so is no longer kept by garbage collection)",
     ["registry-tag-revision-missing", "blob-unreferenced"], tag_without_revision)


def child_unlinked(v2):
    (v2 / "repositories/library/multi/_manifests/revisions/sha256" / MULTI_ARMV7 / "link").unlink()


case("registry-reference-unlinked",
     "an index whose arm64 child has no revision link in the repository: pulls of that platform fail",
     ["registry-reference-unlinked"], child_unlinked)


def bad_repository_name(v2):
    (v2 / "repositories/team/web/app").rename(v2 / "repositories/team/web/App")


case("registry-repository-name-invalid",
     "a repository directory renamed to upper case (team/web/App)",
     ["registry-repository-name-invalid"], bad_repository_name)


def bad_tag(v2):
    tags = v2 / "repositories/team/web/app/_manifests/tags"
    (tags / "v1").rename(tags / "-v1")


case("registry-tag-invalid",
     "a tag directory renamed to -v1, which the tag grammar forbids",
     ["registry-tag-invalid"], bad_tag)


def uploads(v2):
    base = v2 / "repositories/library/app/_uploads"
    write(base / "3f2a9c1e-0000-4000-8000-000000000001/startedat", "2020-01-02T03:04:05Z")
    write(base / "3f2a9c1e-0000-4000-8000-000000000001/data", b"x" * 1000)
    # In progress (started in the future relative to any run of this corpus): counted only.
    write(base / "3f2a9c1e-0000-4000-8000-000000000002/startedat", "2999-01-01T00:00:00Z")
    write(base / "3f2a9c1e-0000-4000-8000-000000000002/data", b"y" * 10)


case("registry-upload-stale",
     "an upload started in 2020 and never finished (stale), and one in progress (only counted)",
     ["registry-upload-stale"], uploads)


def uploads_invalid(v2):
    base = v2 / "repositories/library/multi/_uploads"
    write(base / "5b1d2e3f-0000-4000-8000-000000000001/data", b"z" * 7)
    write(base / "5b1d2e3f-0000-4000-8000-000000000002/startedat", "yesterday")


case("registry-upload-invalid",
     "uploads without startedat and with a startedat that is not RFC 3339: never purged",
     ["registry-upload-invalid"], uploads_invalid)


def schema1(v2):
    app = manifest(v2, APP_V1)
    layer = app["layers"][0]["digest"]
    doc = {
        "schemaVersion": 1,
        "name": "library/legacy",
        "tag": "old",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": layer}],
        "history": [{"v1Compatibility": json.dumps({"id": "a" * 64, "architecture": "amd64", "os": "linux"})}],
        "signatures": [{"header": {"alg": "ES256"}, "signature": "c2ln", "protected": "e30"}],
    }
    hex_ = put_blob(v2, json.dumps(doc, indent=3).encode())
    repo = "library/legacy"
    link(v2, repo, f"_manifests/revisions/sha256/{hex_}/link", hex_)
    link(v2, repo, "_manifests/tags/old/current/link", hex_)
    link(v2, repo, f"_manifests/tags/old/index/sha256/{hex_}/link", hex_)
    link(v2, repo, f"_layers/sha256/{layer.split(':')[1]}/link", layer.split(":")[1])


case("registry-manifest-schema1",
     "a Docker schema 1 (signed) manifest, linked and tagged with its layer",
     ["registry-manifest-schema1"], schema1)


def flipped_byte(v2):
    layer = manifest(v2, DOCKER_V2S2)["layers"][0]["digest"].split(":")[1]
    data = blob_dir(v2, layer) / "data"
    content = bytearray(data.read_bytes())
    content[len(content) // 2] ^= 0x01
    data.write_bytes(bytes(content))


case("blob-digest-mismatch",
     "one bit flipped in a layer of the Docker schema 2 image (bit rot): the layout rules apply to a registry's blobs",
     ["blob-digest-mismatch"], flipped_byte)

print(f"wrote cases under {OUT}")
