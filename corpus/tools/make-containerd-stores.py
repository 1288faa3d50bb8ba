#!/usr/bin/env python3
"""containerd roots written by Debian's containerd (1.6), clean and with one fault each.

Usage: corpus/tools/make-containerd-stores.py [OUTDIR]
       (default OUTDIR: corpus/containerd relative to the repository root)

Each case starts containerd on a root, state directory and socket of its own (no network),
and imports with `ctr images import --snapshotter native` archives that skopeo makes of
corpus/clean layouts:
- docker.io/test/a:1 (corpus/clean/skopeo-copy v1, three layers) in namespaces `default`
  and `other`;
- docker.io/test/multi:2 (corpus/clean/skopeo-multiplatform, an index of three platforms,
  imported with --all-platforms).
containerd's garbage collection is then run once (a lease deleted with --sync), so
that what its scheduler would collect later is gone in every case. Faults made through
containerd run before it stops (a blob removed with `ctr content rm`,
an interrupted ingest); those made on disk come after it stopped (a flipped or grown blob,
a blob file deleted behind containerd, a blob no record names, a torn meta.db). Only the
content store (io.containerd.content.v1.content) and io.containerd.metadata.v1.bolt/meta.db
are kept: snapshots hold unpacked file systems that the audit does not read.

meta.db holds creation times, so a rerun writes other bytes with the same findings.
Needs containerd, ctr and skopeo.
"""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLEAN = os.path.join(REPO, "corpus", "clean")
CONTENT = "io.containerd.content.v1.content"
METADATA = "io.containerd.metadata.v1.bolt"
A_LAYER = "89c700434e0bd1e5b4a0a230a875aafaa639c8c46696f062e0a650c3a3ae91e9"
A_MANIFEST = "88d406bfdf41bec031b2ef776b2cf1bb87e641200dece3a1f02c571944860042"
A_CONFIG = "28f0f4cf0e50772aa8ef5169b9e2d2d451a935754873d8802dc7d1497e4cb271"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

write_case_toml = import_module("make-broken-stores").write_case_toml


# Garbage collection only when asked (Containerd.collect): left to its scheduler, whether
# a collection runs before containerd stops is a race. No threshold triggers one, the
# first waits an hour, and the pause after one is 100,000 times its length; a deletion
# with --sync still collects at once.
GC_ON_DEMAND = """[plugins."io.containerd.gc.v1.scheduler"]
  deletion_threshold = 0
  mutation_threshold = 1000000
  pause_threshold = 0.00001
  startup_delay = "1h"
"""


class Containerd:
    """containerd on a root of its own, with the two archives made."""

    def __init__(self, work):
        self.work = work
        self.root = os.path.join(work, "root")
        self.sock = os.path.join(work, "containerd.sock")
        config = os.path.join(work, "config.toml")
        with open(config, "w") as f:
            f.write(f'version = 2\nroot = "{self.root}"\nstate = "{work}/state"\n'
                    f'[grpc]\n  address = "{self.sock}"\n' + GC_ON_DEMAND)
        self.log = open(os.path.join(work, "containerd.log"), "w")
        self.proc = subprocess.Popen(["containerd", "--config", config],
                                     stdout=self.log, stderr=self.log)
        for _ in range(100):
            if os.path.exists(self.sock):
                break
            time.sleep(0.1)
        self.ctr("version")

    def ctr(self, *args, namespace="default", stdin=None):
        return subprocess.run(["ctr", "-a", self.sock, "-n", namespace, *args], check=True,
                              capture_output=True, input=stdin)

    def collect(self):
        """Runs containerd's garbage collection now: deleting a lease with --sync does.
        (Left to its scheduler, whether it ran before containerd stops is a race.)"""
        lease = self.ctr("leases", "create").stdout.split()[-1].decode()
        self.ctr("leases", "delete", "--sync", lease)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.log.close()

    def keep(self, out):
        """Copies the content store and meta.db to `out`."""
        shutil.copytree(os.path.join(self.root, CONTENT), os.path.join(out, CONTENT),
                        symlinks=True)
        os.makedirs(os.path.join(out, METADATA))
        shutil.copy(os.path.join(self.root, METADATA, "meta.db"), os.path.join(out, METADATA))


def archive(work, layout, tag, name, all_platforms=False):
    path = os.path.join(work, f"{tag}.tar")
    extra = ["--all"] if all_platforms else []
    subprocess.run(["skopeo", "copy", "-q", *extra, f"oci:{layout}:{tag}",
                    f"oci-archive:{path}:{name}"], check=True)
    return path


def blob(out, digest_hex):
    return os.path.join(out, CONTENT, "blobs", "sha256", digest_hex)


def flip(path):
    with open(path, "r+b") as f:
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 0xFF]))


def build(out, before_stop=None, after_stop=None):
    with tempfile.TemporaryDirectory() as work:
        a = archive(work, os.path.join(CLEAN, "skopeo-copy", "store"), "v1", "docker.io/test/a:1")
        multi = archive(work, os.path.join(CLEAN, "skopeo-multiplatform", "store"), "multi",
                        "docker.io/test/multi:2", all_platforms=True)
        c = Containerd(work)
        try:
            c.ctr("images", "import", "--snapshotter", "native", a)
            c.ctr("images", "import", "--snapshotter", "native", a, namespace="other")
            c.ctr("images", "import", "--all-platforms", "--snapshotter", "native", multi)
            c.collect()
            if before_stop:
                before_stop(c)
        finally:
            c.stop()
        c.keep(out)
    # Ingests only where a case makes one: an interrupted write would turn stale with time.
    ingest = os.path.join(out, CONTENT, "ingest")
    if not (before_stop and before_stop.__name__ == "interrupted_ingest"):
        for d in os.listdir(ingest):
            shutil.rmtree(os.path.join(ingest, d))
    if after_stop:
        after_stop(out)


def interrupted_ingest(c):
    """A write that never finished, as an interrupted pull leaves it."""
    p = subprocess.Popen(["ctr", "-a", c.sock, "content", "ingest", "--expected-size", "100",
                          "interrupted-pull"], stdin=subprocess.PIPE)
    p.stdin.write(b"partial")
    p.stdin.flush()
    time.sleep(1)
    p.kill()
    p.wait()


def age_ingest(out):
    """The ingest last written long ago."""
    ingest = os.path.join(out, CONTENT, "ingest")
    for d in os.listdir(ingest):
        for name in ("startedat", "updatedat"):
            with open(os.path.join(ingest, d, name), "w") as f:
                f.write("2020-01-02T03:04:05.000000006Z")


def remove_config(c):
    c.ctr("content", "rm", f"sha256:{A_CONFIG}", namespace="other")


def discard_layer(c):
    """A layer removed in both namespaces, as containerd's discard_unpacked_layers leaves it:
    no record, and the file gone once garbage collection has run."""
    for namespace in ("default", "other"):
        c.ctr("content", "rm", f"sha256:{A_LAYER}", namespace=namespace)
    c.collect()
    if os.path.exists(os.path.join(c.root, CONTENT, "blobs", "sha256", A_LAYER)):
        raise RuntimeError("containerd's garbage collection did not remove the layer")


def ingest_unkept(c):
    """A blob written with `ctr content ingest`: recorded, but no image, lease or label
    keeps it, so the next collection deletes it."""
    c.ctr("content", "ingest", "loose-blob", stdin=b"content nothing keeps\n")


def drop_gc_label(c):
    """Image a:1's manifest loses the label that keeps its second layer (an empty value
    removes a label): the next collection would delete a layer the image needs."""
    c.ctr("content", "label", f"sha256:{A_MANIFEST}", "containerd.io/gc.ref.content.l.1=")


def mislabel_layer(c):
    """A layer's containerd.io/uncompressed label set to another layer's diff_id."""
    other = "sha256:9bc1059c3a892d158ca23dc084b31a64709749524e3a366d1b46768663b0a69f"
    c.ctr("content", "label", f"sha256:{A_LAYER}", f"containerd.io/uncompressed={other}")


def flip_layer(out):
    flip(blob(out, A_LAYER))


def delete_layer_file(out):
    os.remove(blob(out, A_LAYER))


def grow_layer(out):
    with open(blob(out, A_LAYER), "ab") as f:
        f.write(b"\0")


def unrecorded_blob(out):
    data = b"a blob no namespace records\n"
    with open(blob(out, hashlib.sha256(data).hexdigest()), "wb") as f:
        f.write(data)


def torn_meta_db(out):
    """Both meta pages torn, as a copy cut short at the first page would leave them."""
    path = os.path.join(out, METADATA, "meta.db")
    with open(path, "r+b") as f:
        for page in (0, 4096):
            f.seek(page + 16 + 48)
            f.write(b"\xff" * 8)


CASES = [
    ("clean", "two namespaces, an image with three layers in both and a multi-platform index, as containerd 1.6 imported them", [], {}),
    ("layer-discarded", "a layer containerd removed in both namespaces after unpacking (no record, no file): a fact of the store, no finding", [], {"before_stop": discard_layer}),
    ("content-unkept", "a blob ingested with ctr content ingest that nothing keeps (containerd's next collection deletes it)", ["blob-unreferenced"], {"before_stop": ingest_unkept}),
    ("gc-label-dropped", "the gc.ref label that keeps a layer removed from its manifest's record in namespace default (its record would go; the file stays for namespace other)", ["containerd-content-unprotected"], {"before_stop": drop_gc_label}),
    ("uncompressed-label-mismatch", "a layer's containerd.io/uncompressed label set with ctr content label to another layer's diff_id", ["containerd-uncompressed-label-mismatch"], {"before_stop": mislabel_layer}),
    ("blob-digest-mismatch", "a layer's first byte flipped on disk", ["blob-digest-mismatch"], {"after_stop": flip_layer}),
    ("content-missing", "a recorded layer's file deleted behind containerd's back", ["containerd-content-missing", "descriptor-blob-missing"], {"after_stop": delete_layer_file}),
    ("content-size-mismatch", "a layer grown by one byte on disk", ["blob-digest-mismatch", "containerd-content-size-mismatch", "descriptor-size-mismatch"], {"after_stop": grow_layer}),
    ("blob-unrecorded", "a blob file that no namespace records", ["blob-unreferenced"], {"after_stop": unrecorded_blob}),
    ("config-removed", "ctr content rm of an image's config in one namespace (the record goes; the file stays for the other)", ["containerd-content-unrecorded"], {"before_stop": remove_config}),
    ("ingest-stale", "an interrupted ingest last written in 2020", ["containerd-ingest-stale"], {"before_stop": interrupted_ingest, "after_stop": age_ingest}),
    ("metadata-torn", "meta.db with both meta pages torn", ["containerd-metadata-unreadable"], {"after_stop": torn_meta_db}),
]


def main(argv):
    out = argv[1] if len(argv) == 2 else os.path.join(REPO, "corpus", "containerd")
    for name, description, expect, hooks in CASES:
        d = os.path.join(out, name)
        if os.path.lexists(d):
            shutil.rmtree(d)
        build(os.path.join(d, "store"), **hooks)
        write_case_toml(d, description, "containerd", expect)
    print(f"wrote {len(CASES)} cases to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
