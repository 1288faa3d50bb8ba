#!/usr/bin/env python3
"""containers-storage roots written by skopeo 1.9 (`containers-storage:[vfs@ROOT+RUNROOT]`,
no podman needed), clean and with one fault each, made on disk afterwards.

Usage: corpus/tools/make-containers-storages.py [OUTDIR]
       (default OUTDIR: corpus/containers-storage relative to the repository root)

Each case copies corpus/clean/skopeo-copy (v1, three layers) as localhost/test/a:1 and
corpus/clean/skopeo-multiplatform (its linux/amd64 image) as localhost/test/b:1 into a vfs store, then keeps its
metadata only: storage.lock, vfs-images/ (images.json and each image's big-data items),
vfs-layers/ (layers.json and the tar-splits), vfs-containers/; the cases audited with
--verify-layers (`verify_layers = true` in case.toml) keep vfs/dir/ too, the unpacked
layers that it re-assembles. The fault, if any, is made on those files.
images.json and layers.json keep creation times, so a rerun gives the same findings, not
the same bytes. Needs skopeo.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLEAN = os.path.join(REPO, "corpus", "clean")
KEEP = ["storage.lock", "vfs-images", "vfs-layers", "vfs-containers"]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

write_case_toml = import_module("make-broken-stores").write_case_toml


def build(out, fault=None, unpacked=False):
    with tempfile.TemporaryDirectory() as work:
        root, run = os.path.join(work, "root"), os.path.join(work, "run")
        for layout, tag, name in [("skopeo-copy", "v1", "localhost/test/a:1"),
                                  ("skopeo-multiplatform", "multi", "localhost/test/b:1")]:
            src = os.path.join(CLEAN, layout, "store")
            subprocess.run(["skopeo", "copy", "-q", f"oci:{src}:{tag}",
                            f"containers-storage:[vfs@{root}+{run}]{name}"], check=True)
        os.makedirs(out)
        for item in KEEP + (["vfs"] if unpacked else []):
            path = os.path.join(root, item)
            if os.path.isdir(path):
                shutil.copytree(path, os.path.join(out, item))
            elif os.path.exists(path):
                shutil.copy(path, os.path.join(out, item))
    if fault:
        fault(out)


def images(out):
    with open(os.path.join(out, "vfs-images", "images.json")) as f:
        return json.load(f)


def layers(out):
    with open(os.path.join(out, "vfs-layers", "layers.json")) as f:
        return json.load(f)


def write(out, name, value):
    with open(os.path.join(out, name), "w") as f:
        json.dump(value, f)


def image_a(out):
    return next(i for i in images(out) if "localhost/test/a:1" in i.get("names", []))


def flip_config(out):
    image = image_a(out)
    config = next(n for n in image["big-data-names"] if n.startswith("sha256:"))
    import base64
    path = os.path.join(out, "vfs-images", image["id"], "=" + base64.b64encode(config.encode()).decode())
    with open(path, "r+b") as f:
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 0xFF]))


def grow_config(out):
    image = image_a(out)
    config = next(n for n in image["big-data-names"] if n.startswith("sha256:"))
    import base64
    path = os.path.join(out, "vfs-images", image["id"], "=" + base64.b64encode(config.encode()).decode())
    with open(path, "ab") as f:
        f.write(b" ")


def delete_manifest(out):
    os.remove(os.path.join(out, "vfs-images", image_a(out)["id"], "manifest"))


def tear_images_json(out):
    path = os.path.join(out, "vfs-images", "images.json")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def delete_tar_split(out):
    layer = layers(out)[0]["id"]
    os.remove(os.path.join(out, "vfs-layers", f"{layer}.tar-split.gz"))


def layer_files(out, layer):
    """A layer's directory and the regular files its tar-split names."""
    import gzip
    with gzip.open(os.path.join(out, "vfs-layers", f"{layer}.tar-split.gz")) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    names = [e["name"] for e in entries if e["type"] == 1 and e.get("size", 0) > 0]
    return os.path.join(out, "vfs", "dir", layer), names


def modify_layer_files(out):
    """Image a:1's top layer: its first file's first byte flipped; the layer below it:
    its first file deleted."""
    top = image_a(out)["layer"]
    directory, names = layer_files(out, top)
    with open(os.path.join(directory, names[0]), "r+b") as f:
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 0x01]))
    parent = next(l["parent"] for l in layers(out) if l["id"] == top)
    directory, names = layer_files(out, parent)
    os.remove(os.path.join(directory, names[0]))


def drop_base_layer(out):
    """The base layer of image a:1 removed from layers.json (its tar-split too)."""
    all_layers = layers(out)
    base = next(l for l in all_layers if "parent" not in l and l["compressed-diff-digest"].endswith("1bf8569e90fdc4faa9e7730352af26c487c9091c3be53f542779f49d0d8b0eae"))
    write(out, "vfs-layers/layers.json", [l for l in all_layers if l["id"] != base["id"]])
    os.remove(os.path.join(out, "vfs-layers", f"{base['id']}.tar-split.gz"))


def swap_top_layer(out):
    """Image a:1's record pointed at image b:1's top layer (its own chain left unused)."""
    all_images = images(out)
    b = next(i for i in all_images if "localhost/test/b:1" in i.get("names", []))
    for image in all_images:
        if "localhost/test/a:1" in image.get("names", []):
            image["layer"] = b["layer"]
    write(out, "vfs-images/images.json", all_images)


def drop_image(out):
    """Image b:1 removed from images.json, as an interrupted removal leaves its layers."""
    write(out, "vfs-images/images.json",
          [i for i in images(out) if "localhost/test/b:1" not in i.get("names", [])])


CASES = [
    ("clean", "two images copied by skopeo into a vfs store", [], None),
    ("big-data-corrupt", "image a:1's config (a big-data item) with its first byte flipped", ["blob-digest-mismatch", "document-json-invalid"], flip_config),
    ("big-data-mismatch", "image a:1's config (a big-data item) grown by a byte", ["blob-digest-mismatch", "containers-storage-big-data-mismatch", "descriptor-size-mismatch"], grow_config),
    ("big-data-missing", "image a:1's manifest file deleted", ["containers-storage-big-data-missing"], delete_manifest),
    ("metadata-torn", "images.json cut in half", ["containers-storage-metadata-unreadable"], tear_images_json),
    ("tar-split-missing", "a layer's tar-split deleted", ["containers-storage-tar-split-missing"], delete_tar_split),
    ("layer-missing", "image a:1's base layer removed from layers.json", ["containers-storage-layer-missing"], drop_base_layer),
    ("layer-unused", "image b:1 removed from images.json, its big-data items and layers left", ["containers-storage-big-data-unlisted", "containers-storage-layer-unused"], drop_image),
    ("layer-chain-mismatch", "image a:1's record points at image b:1's top layer", ["containers-storage-layer-chain-mismatch", "containers-storage-layer-unused"], swap_top_layer),
]

# Audited with --verify-layers, so they keep the unpacked layers (vfs/dir/).
VERIFIED = [
    ("layers-verified", "two images with their unpacked layers, each re-assembled to its diff-digest (--verify-layers)", [], None),
    ("layer-modified", "--verify-layers: a file's first byte flipped in image a:1's top layer, and a file deleted from the layer below", ["containers-storage-layer-modified"], modify_layer_files),
]


def main(argv):
    out = argv[1] if len(argv) == 2 else os.path.join(REPO, "corpus", "containers-storage")
    cases = [(c, False) for c in CASES] + [(c, True) for c in VERIFIED]
    for (name, description, expect, fault), unpacked in cases:
        d = os.path.join(out, name)
        if os.path.lexists(d):
            shutil.rmtree(d)
        build(os.path.join(d, "store"), fault, unpacked)
        write_case_toml(d, description, "containers-storage", expect)
        if unpacked:
            with open(os.path.join(d, "case.toml"), "a") as f:
                f.write("verify_layers = true\n")
    print(f"wrote {len(cases)} cases to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
