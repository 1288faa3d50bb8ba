#!/usr/bin/env python3
"""Sanity-check OCI image layouts made by make-real-stores.sh.

Usage: corpus/tools/check-real-stores.py [DIR ...]   (default: corpus/clean)

Every directory holding an `oci-layout` file under DIR is checked: blob sha256
matches its file name and descriptor digest, descriptor sizes match, every
referenced blob exists, no unreferenced blobs, gzip layers' diff_ids match the
config, non-empty history entries == layer count. Prints one line per layout,
exits 1 on any error.
"""
import gzip, hashlib, json, os, sys

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def check_layout(root):
    errs, seen = [], set()
    blobdir = os.path.join(root, "blobs", "sha256")
    ol = json.load(open(os.path.join(root, "oci-layout")))
    if ol.get("imageLayoutVersion") != "1.0.0":
        errs.append(f"oci-layout: {ol}")

    def blob(desc, where):
        alg, _, hexd = desc["digest"].partition(":")
        path = os.path.join(root, "blobs", alg, hexd)
        if not os.path.isfile(path):
            errs.append(f"{where}: missing blob {desc['digest']}")
            return None
        data = open(path, "rb").read()
        seen.add(hexd)
        if hashlib.sha256(data).hexdigest() != hexd:
            errs.append(f"{where}: digest mismatch {hexd}")
        if len(data) != desc["size"]:
            errs.append(f"{where}: size {desc['size']} != {len(data)}")
        return data

    def walk(desc, where):
        data = blob(desc, where)
        if data is None:
            return
        doc = json.loads(data)
        mt = desc.get("mediaType") or doc.get("mediaType")
        if mt == INDEX or "manifests" in doc:
            for i, d in enumerate(doc["manifests"]):
                walk(d, f"{where}>m[{i}]")
            return
        cfg = json.loads(blob(doc["config"], f"{where}>config") or b"{}")
        diff_ids = cfg.get("rootfs", {}).get("diff_ids", [])
        if len(diff_ids) != len(doc["layers"]):
            errs.append(f"{where}: {len(diff_ids)} diff_ids vs {len(doc['layers'])} layers")
        nonempty = [h for h in cfg.get("history", []) if not h.get("empty_layer")]
        if cfg.get("history") and len(nonempty) != len(doc["layers"]):
            errs.append(f"{where}: {len(nonempty)} non-empty history vs {len(doc['layers'])} layers")
        for i, l in enumerate(doc["layers"]):
            data = blob(l, f"{where}>layer[{i}]")
            if data is not None and l["mediaType"].endswith("+gzip"):
                try:
                    d = "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()
                except (OSError, EOFError) as e:
                    errs.append(f"{where}>layer[{i}]: bad gzip: {e}")
                    continue
                if i < len(diff_ids) and d != diff_ids[i]:
                    errs.append(f"{where}>layer[{i}]: diff_id mismatch")

    idx = json.load(open(os.path.join(root, "index.json")))
    for i, d in enumerate(idx.get("manifests") or []):
        walk(d, f"index.json[{i}]")
    extra = sorted(set(os.listdir(blobdir)) - seen)
    if extra:
        errs.append(f"unreferenced blobs: {extra}")
    return errs, len(seen)


def main(dirs):
    bad = 0
    for top in dirs:
        for dp, dn, fn in sorted(os.walk(top)):
            if "oci-layout" in fn:
                dn[:] = []  # a layout does not nest further layouts
                errs, n = check_layout(dp)
                print(("OK  " if not errs else "BAD ") + f"{dp} ({n} blobs)")
                for e in errs:
                    print("    " + e)
                bad += bool(errs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["corpus/clean"]))
