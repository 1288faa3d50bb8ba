#!/usr/bin/env python3
"""An OCI layout whose layers are real tars (gen-store's are random bytes, which no
container engine can unpack): for benches that copy images into containers-storage.

Usage: benches/tar_layout.py OUT IMAGES LAYERS FILES FILE_SIZE

Image i (tag img-i) has LAYERS uncompressed tar layers, each a directory of FILES files of
FILE_SIZE pseudo-random bytes (seeded by image and layer, so every layer is distinct and a
rerun writes the same bytes).
"""
import hashlib
import io
import json
import os
import random
import sys
import tarfile


def blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return f"sha256:{digest}", len(data)


def layer(image, index, files, size):
    rng = random.Random(image * 1000 + index)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo(f"img{image}/layer{index}")
        directory.type, directory.mode, directory.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
        tar.addfile(directory)
        for n in range(files):
            info = tarfile.TarInfo(f"img{image}/layer{index}/file{n}")
            info.size, info.mode, info.mtime = size, 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(rng.randbytes(size)))
    return buf.getvalue()


def main(argv):
    out, images, layers, files, size = argv[1], *map(int, argv[2:6])
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    manifests = []
    for i in range(images):
        descriptors, diff_ids = [], []
        for n in range(layers):
            digest, length = blob(out, layer(i, n, files, size))
            descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                "digest": digest, "size": length})
            diff_ids.append(digest)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "config": {"Env": [f"IMAGE={i}"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        config_digest, config_size = blob(out, config)
        manifest = json.dumps({"schemaVersion": 2,
                               "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": config_digest, "size": config_size},
                               "layers": descriptors}).encode()
        digest, length = blob(out, manifest)
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": digest, "size": length,
                          "annotations": {"org.opencontainers.image.ref.name": f"img-{i}"}})
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": manifests}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
