#!/usr/bin/env python3
"""Write zot registry roots, laid out the way zot's storage code writes them.

Usage: python3 corpus/tools/make-zot-store.py [--keep-links] [OUTDIR]   (default: corpus/zot)

git keeps no hard links, so the local shapes are written with zot's hard links and then
given a copy per name, as a checkout would hold them, unless --keep-links is given.

Each case is OUTDIR/<case>/{store/, case.toml}; tests/corpus.rs audits it (with --zot
where the case says `zot = true`) and asserts its rule ids and its audit.txt.

Sources read (github.com/project-zot/zot):
  * branch refactor/storage @ 62d82f9a (2026-08-18): the "_blobstore" design
    (PR #3906 / #4136-#4137). It is NOT in main @ 6d19b445 (2026-08-21) nor in any
    release (latest v2.1.20 @ 3b5796d8 has no _blobstore).
  * main @ 6d19b445 / v2.1.20: the released "legacy" dedupe layout, in which the first
    repository to push a digest holds the content.

Four shapes of root are written (then the broken cases at the end of this file):

local/    refactor/storage, local filesystem, dedupe on (the default, config.New()).
  _blobstore/                 NewImageStore calls initRepo(GlobalBlobsRepo) when dedupe is
                              on (imagestore.go:NewImageStore). initRepo writes blobs/,
                              .uploads/, oci-layout {"imageLayoutVersion":"1.0.0"} and
                              index.json {"schemaVersion":2,"manifests":null} (json.Marshal
                              of ispec.Index{SchemaVersion:2}; `manifests` has no omitempty).
                              _blobstore/.uploads/ stays empty, because zot never uploads
                              into it. Git drops that directory.
  _blobstore/blobs/sha256/*   master copies. For the first writer, DedupeBlob Moves the
                              upload to BlobPath(GlobalBlobsRepo, d) and records that path
                              in the cache. Every repository path is then
                              lifecycle.LinkBlob(gdst, dst) -> localHardlinkBlobLifecycle
                              -> local Driver.Link -> os.Link (blob_lifecycle.go,
                              local/driver.go:Link). Each deduped blob is a hard link:
                              nlink = 1 + the number of repositories holding it.
                              Only uploaded blobs (configs, layers) go through DedupeBlob.
                              PutImageManifest WriteFiles manifests straight into the
                              repository, so they are plain files: one per repository,
                              and none in _blobstore, even when the bytes are identical.
  _global_blobstore_migrated  content "1" (writeBlobstoreMigrationMarker). It is written
                              by upgradeToGlobalBlobstore on the first startup, even on an
                              empty root (constants.BlobstoreMigratedMarker).
  cache.db                    BoltDB dedupe cache. For local storage it sits at
                              storage.rootDirectory (cache.go:CreateCacheDatabaseDriver,
                              cache/boltdb.go:NewBoltDBCache: RootDir/"cache"+".db"), and
                              it exists only when dedupe is on. This file is a placeholder
                              of a few bytes, not a bbolt file.
  meta.db                     MetaDB BoltDB (meta/meta.go, meta/boltdb/parameters.go) at
                              rootDirectory when search/UI metadata is enabled. Placeholder.
  _trivy/db/metadata.json     Trivy DB dir = RootDir()/_trivy (extensions/search/cve/trivy/
                              scanner.go). It holds db/trivy.db and db/metadata.json.
                              Placeholder.
  library/app, team/web       complete OCI layouts (initRepo): oci-layout, index.json
                              whose descriptors are {mediaType,digest,size,annotations:
                              {org.opencontainers.image.ref.name: tag}} (PutImageManifest,
                              PutIndexContent), and blobs/sha256/. Both repositories push
                              the same image. library/app also has tag 2.0, with its own
                              config and one extra layer whose only owner is library/app.
  <repo>/.uploads/<uuid>      an in-progress upload. The name is a UUIDv4 string
                              (BlobUploadPath, NewBlobUpload: guuid.NewV4). The content is
                              the bytes received so far.

remote/   refactor/storage, S3/GCS/Azure, dedupe on. This is the bucket under the
          driver's `rootdirectory`, written to a local directory.
  _blobstore/oci-layout, index.json   initRepo (S3 EnsureDir is a no-op, so the empty
                              blobs/ and .uploads/ directories do not exist).
  _blobstore/blobs/sha256/*   the ONLY copy of every deduped blob. PromoteCandidate streams
                              the bytes there, and remoteSharedBlobLifecycle.LinkBlob is a
                              no-op. Repository ownership is only a cache "blob_refs" entry.
                              So a repository has no object at all, not even a 0-byte one,
                              for its deduped configs and layers (blob_lifecycle.go,
                              pkg/storage/README.md "Remote Object Store Blob Lifecycle").
                              Reads go through originalBlobInfo -> hasBlobRef -> the
                              _blobstore path.
  <repo>/blobs/sha256/<manifest>      manifests only (PutImageManifest WriteFile).
  _global_blobstore_migrated  "1". RunDedupeBlobs deletes it only if dedupe is turned off.
  There is no cache.db here: for remote storage the BoltDB lives on the zot host's local
  storage.rootDirectory, not in the bucket. _trivy and meta.db are on the host too. No
  .uploads objects either: S3 has no empty dirs, and an in-progress upload is an open
  multipart upload, not a listed object.

legacy-local/   main / v2.1.20, local, dedupe on. This is also what
                upgradeToGlobalBlobstore migrates from.
  There is no _blobstore and no marker. DedupeBlob (main) Moves the first upload of a
  digest into the pushing repository (library/app) and records that path as the cache
  "original". Later repositories get local Driver.Link, i.e. os.Link to it. cache.db,
  meta.db, _trivy and .uploads are as in local/.

legacy-remote/  main / v2.1.20, S3, dedupe on.
  The first repository to push (library/app) holds the full object. Later repositories get
  a 0-byte object at the same path (s3/driver.go:Link = PutContent(dest, []byte{})), which
  zot resolves through the cache (checkCacheBlob: digest -> original path, an absolute
  path for S3). Manifests are full objects in every repository. No cache.db, as in remote/.

Layer bytes are short fixed strings with the tar+gzip media type. This is the corpus
convention (make-broken-stores.py): oci-audit does not decompress layers. diff_ids are the
layer digests.
"""
import hashlib
import json
import os
import shutil
import sys

CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF = "org.opencontainers.image.ref.name"

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'            # json.Marshal(ispec.ImageLayout)
EMPTY_INDEX = b'{"schemaVersion":2,"manifests":null}'      # json.Marshal(ispec.Index{SchemaVersion: 2})
MIGRATED_MARKER = "_global_blobstore_migrated"
GLOBAL_REPO = "_blobstore"


def js(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def desc(media_type, data, **extra):
    d = {"mediaType": media_type, "digest": "sha256:" + sha(data), "size": len(data)}
    d.update(extra)
    return d


def image(config_extra, layers):
    cfg = js({"architecture": "amd64", "os": "linux", **config_extra,
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(l) for l in layers]}})
    manifest = js({"schemaVersion": 2, "mediaType": MANIFEST, "config": desc(CONFIG, cfg),
                   "layers": [desc(LAYER, l) for l in layers]})
    return manifest, cfg


SHARED_LAYER = b"zot shared layer\n"
APP2_LAYER = b"zot app 2.0 layer\n"
M1, C1 = image({"config": {"Cmd": ["/bin/app"]}}, [SHARED_LAYER])
M2, C2 = image({"config": {"Cmd": ["/bin/app", "--v2"]}}, [SHARED_LAYER, APP2_LAYER])

# repo -> (tags -> manifest bytes, uploaded blobs in push order, (upload uuid, partial bytes))
REPOS = {
    "library/app": ({"1.0": M1, "2.0": M2}, [C1, SHARED_LAYER, C2, APP2_LAYER],
                    ("0b6f4c1e-8d2a-4f3b-9e57-3a1c2d4e5f60", b"partial upload, first chunk")),
    "team/web": ({"latest": M1}, [C1, SHARED_LAYER],
                 ("7c3e9a10-52b4-4d6e-a1f8-09b2c4d6e8fa", b"another partial chunk")),
}
PUSH_ORDER = ["library/app", "team/web"]  # library/app pushes first: it is the legacy "original"


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def blob_path(root, repo, data):
    return os.path.join(root, *repo.split("/"), "blobs", "sha256", sha(data))


def index_json(tags):
    # PutImageManifest appends a descriptor per tag; PutIndexContent marshals ispec.Index,
    # which has no top-level mediaType because initRepo did not set one.
    return js({"schemaVersion": 2, "manifests": [
        desc(MANIFEST, m, annotations={REF: tag}) for tag, m in tags.items()]})


def init_repo(root, repo, local):
    """imagestore.go:initRepo. On S3, EnsureDir is a no-op, so no directories are created."""
    d = os.path.join(root, *repo.split("/"))
    if local:
        os.makedirs(os.path.join(d, "blobs"), exist_ok=True)
        os.makedirs(os.path.join(d, ".uploads"), exist_ok=True)
    write(os.path.join(d, "oci-layout"), OCI_LAYOUT)
    if repo == GLOBAL_REPO:
        write(os.path.join(d, "index.json"), EMPTY_INDEX)


def host_files(root):
    """Files that sit on the local rootDirectory: the BoltDB caches and the Trivy DB."""
    write(os.path.join(root, "cache.db"), b"placeholder, not a bbolt file\n")
    write(os.path.join(root, "meta.db"), b"placeholder, not a bbolt file\n")
    write(os.path.join(root, "_trivy", "db", "metadata.json"), b'{"Version":2}')


def push(root, repo, local, store_blob):
    """Uploads (DedupeBlob via store_blob), then manifests (PutImageManifest), then index.json."""
    tags, blobs, (uuid, partial) = REPOS[repo]
    init_repo(root, repo, local)
    for data in blobs:
        store_blob(repo, data)
    for m in tags.values():
        write(blob_path(root, repo, m), m)
    write(os.path.join(root, *repo.split("/"), "index.json"), index_json(tags))
    if local:
        write(os.path.join(root, *repo.split("/"), ".uploads", uuid), partial)


def make_global(root, local):
    init_repo(root, GLOBAL_REPO, local)
    write(os.path.join(root, MIGRATED_MARKER), b"1")

    def store_blob(repo, data):
        master = blob_path(root, GLOBAL_REPO, data)
        if not os.path.exists(master):           # first writer: Move(upload, gdst)
            write(master, data)
        if local:                                 # LinkBlob: os.Link(gdst, dst)
            dst = blob_path(root, repo, data)
            if not os.path.exists(dst):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                os.link(master, dst)
        # remote: LinkBlob is a no-op; ownership is a cache blob_refs entry only

    for repo in PUSH_ORDER:
        push(root, repo, local, store_blob)
    if local:
        host_files(root)


def make_legacy(root, local):
    originals = {}

    def store_blob(repo, data):
        dst = blob_path(root, repo, data)
        original = originals.get(sha(data))
        if original is None:                      # cache miss: Move(upload, dst), PutBlob(original)
            write(dst, data)
            originals[sha(data)] = dst
        elif original != dst:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if local:                             # local Driver.Link: os.Link(original, dst)
                os.link(original, dst)
            else:                                 # s3 Driver.Link: PutContent(dst, []byte{})
                write(dst, b"")

    os.makedirs(root, exist_ok=True)
    for repo in PUSH_ORDER:
        push(root, repo, local, store_blob)
    if local:
        host_files(root)


def toml_str(text):
    return json.dumps(text)  # a JSON string of ASCII text is a valid TOML basic string


def drop_tag_and_collect(root, repo, tag):
    """The repository's tag is deleted and zot's garbage collection removes what only that
    manifest used: here the manifest and its config (the shared layer stays, 2.0 uses it)."""
    tags, _, _ = REPOS[repo]
    kept = {t: m for t, m in tags.items() if t != tag}
    write(os.path.join(root, *repo.split("/"), "index.json"), index_json(kept))
    manifest = json.loads(tags[tag])
    os.remove(blob_path(root, repo, tags[tag]))
    config = manifest["config"]["digest"].split(":")[1]
    os.remove(os.path.join(root, *repo.split("/"), "blobs", "sha256", config))


def orphan_in_blobstore(root):
    """A blob in _blobstore that no repository names (its repository was removed by hand)."""
    write(blob_path(root, GLOBAL_REPO, b"left behind\n"), b"left behind\n")


# (case, description, root maker, local?, extra corruption, expected rule ids, needs --zot)
CASES = [
    ("clean-local", "zot's storage refactor on a local file system: _blobstore holds the masters, "
     "repositories hard-link to them (git keeps copies; tests/zot.rs restores the links)",
     make_global, True, None, [], False),
    ("clean-remote", "zot's storage refactor on S3: repositories hold only their manifests, "
     "_blobstore every deduplicated config and layer", make_global, False, None, [], False),
    ("clean-legacy-local", "released zot (v2.1) on a local file system: no _blobstore, the first "
     "repository holds the content, the second hard links", make_legacy, True, None, [], False),
    ("clean-legacy-remote", "released zot (v2.1) on S3: the second repository's deduplicated blobs "
     "are 0-byte markers; nothing but them says zot, so the case is audited with --zot",
     make_legacy, False, None, [], True),
    ("blob-marker-unresolved", "released zot on S3 after library/app dropped tag 1.0: the config "
     "team/web's marker stands for is gone from the whole root",
     make_legacy, False, lambda root: drop_tag_and_collect(root, "library/app", "1.0"),
     ["blob-marker-unresolved"], True),
    ("blob-unreferenced", "zot's storage refactor on a local file system with a _blobstore blob "
     "no repository names (an orphan zot never collects)",
     make_global, True, orphan_in_blobstore, ["blob-unreferenced"], False),
]


def break_links(root):
    """Gives every hard-linked file its own copy, as a git checkout of the case will: the
    committed corpus then audits the same freshly cloned or freshly written."""
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if os.stat(path).st_nlink > 1:
                with open(path, "rb") as f:
                    data = f.read()
                os.remove(path)
                with open(path, "wb") as f:
                    f.write(data)


def main():
    args = sys.argv[1:]
    keep_links = "--keep-links" in args
    args = [a for a in args if a != "--keep-links"]
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        sys.exit("usage: make-zot-store.py [--keep-links] [OUTDIR]   (default: corpus/zot)")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = args[0] if args else os.path.join(repo, "corpus", "zot")
    for name, description, make, local, corrupt, expect, zot in CASES:
        case = os.path.join(out, name)
        root = os.path.join(case, "store")
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        make(root, local)
        if corrupt:
            corrupt(root)
        if not keep_links:
            break_links(root)
        with open(os.path.join(case, "case.toml"), "w") as f:
            f.write(f"description = {toml_str(description)}\n")
            f.write('kind = "zot"\n')
            f.write("expect = [" + ", ".join(toml_str(e) for e in sorted(expect)) + "]\n")
            if zot:
                f.write("zot = true\n")
    print(f"wrote {len(CASES)} cases to {out}")


if __name__ == "__main__":
    main()
