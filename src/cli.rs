//! Command-line arguments (clap derive) and their conversion into library [`Options`].

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use oci_audit::audit::{Baseline, OpenOptions, RunOptions, StateOptions};
use oci_audit::backend::local::ReadMode;
use oci_audit::check::graph::referrers::Require;
use oci_audit::kinds::CheckOptions;
use oci_audit::kinds::detect::DetectOptions;
use oci_audit::model::digest::Digest;
use oci_audit::report::{CoverageDetail, ReclaimableDetail};
use oci_audit::shard::Shard;
use oci_audit::{Options, Override, Policy, Rule, Severity, Target};

/// Audit OCI image storage (image layouts, directories of layouts, Docker Distribution
/// roots such as /var/lib/registry, zot roots, image archives) the way `git fsck`
/// audits a repository: every blob re-hashed, every descriptor checked, nothing written.
#[derive(Debug, Parser)]
#[command(
    name = "oci-audit",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("OCI_AUDIT_COMMIT"), ")"),
    args_conflicts_with_subcommands = true
)]
#[command(
    after_help = "Exit status: 0 no findings at or above --fail-on, 1 findings at or above it, 2 the audit could not run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub audit: AuditArgs,
}

/// What an audit is given: the store, how to read it, what to check and report. Shared by
/// the audit itself and `oci-audit plan`, whose metadata pass takes the same options.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The store to audit: an OCI image layout, a directory holding layouts, a Docker
    /// Distribution root (the registry's rootdirectory, or its docker/registry/v2), a zot
    /// root (see --zot); an image archive file (docker save, skopeo oci-archive: or
    /// docker-archive:, plain, gzip or zstd), or - for one on standard input; on object
    /// storage, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://CONTAINER/PREFIX
    /// (credentials and endpoint from the environment: AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL; GOOGLE_*; AZURE_*); a registry
    /// over HTTP, https://HOST[:PORT]/ (every repository), https://HOST/NAME,
    /// https://HOST/NAME:TAG or https://HOST/NAME@DIGEST (http:// only when written so;
    /// docker://HOST/NAME[:TAG] as skopeo writes it; credentials as docker and podman
    /// find them: REGISTRY_AUTH_FILE, auth.json, ~/.docker/config.json, helpers).
    pub path: Option<PathBuf>,

    /// Paths after the first (a shell glob, say): refused with a word on what to do
    /// instead, rather than clap's "the subcommand cannot be used with PATH".
    #[arg(hide = true)]
    pub more_paths: Vec<PathBuf>,

    /// Audit the storage a registry's own config.yml names (its storage: section, with
    /// the registry's REGISTRY_STORAGE_* environment overrides): filesystem or s3.
    #[arg(long, value_name = "FILE", conflicts_with = "path")]
    pub registry_config: Option<PathBuf>,

    /// Reads kept in flight: listing, links, documents and small blobs (default 32 on a
    /// local disk, 64 on object storage, 16 requests to a registry over HTTP). They wait on the disk or the network, not on a
    /// core: a cold disk and a remote store answer faster with many queued.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024), allow_negative_numbers = true)]
    pub io_concurrency: Option<u16>,

    /// Object storage and registries: how often a failed request (throttling, 5xx, a
    /// dropped connection) is retried, with backoff, before its key gets a finding
    /// (default 10 on object storage, 4 on a registry; Retry-After is obeyed).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=100), allow_negative_numbers = true)]
    pub io_retries: Option<u16>,

    /// A registry over HTTPS: a PEM file of certificate authorities to trust beside the
    /// system's (a private CA).
    #[arg(long, value_name = "FILE", help_heading = "Registries over HTTP")]
    pub ca_file: Option<PathBuf>,

    /// A registry over HTTP (https://HOST/): the repositories to audit, one a line, where
    /// its catalog is refused (Docker Hub, GHCR).
    #[arg(long, value_name = "FILE", help_heading = "Registries over HTTP")]
    pub repositories: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Write the report to FILE (atomically: a reader never sees half of it) instead of
    /// standard output. Refused inside the audited tree.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// Hashing threads, for large blobs that keep a core busy (0: one per core, or
    /// RAYON_NUM_THREADS). Reads that wait on the store have their own --io-concurrency.
    #[arg(long, short = 'j', default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1024), allow_negative_numbers = true)]
    pub threads: u16,

    /// Check connectivity and sizes only: do not re-hash layers and other non-document
    /// blobs (documents are still hashed, as they are read anyway).
    #[arg(long)]
    pub no_verify: bool,

    /// Never memory-map blobs; always read them: the smallest resident memory. (Mapped
    /// blobs truncated under the audit are survived either way and reported.)
    #[arg(long)]
    pub no_mmap: bool,

    /// Documents larger than this are not parsed (document-too-large): bytes, or a size
    /// such as 4MiB or 8MB.
    #[arg(long, default_value = "8MiB", value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    pub max_document_size: u64,

    /// Only tagged manifests are garbage-collection roots (children of tagged indexes and
    /// referrers of kept manifests are kept too): for a Distribution root what `registry
    /// garbage-collect --delete-untagged` would reclaim, for a zot root what its default
    /// retention deletes, for a layout what no ref.name entry keeps.
    #[arg(long)]
    pub untagged: bool,

    /// containerd roots: a layer containerd discarded once it unpacked the image (no
    /// record, no file) is descriptor-blob-missing, as on any other store, instead of a
    /// fact of the store (for nodes that must be able to push or save their images).
    #[arg(long)]
    pub require_layers: bool,

    /// containers-storage roots: re-assemble each layer's tar from its tar-split and its
    /// unpacked files and hash it against the diff-digest layers.json records (reads every
    /// file of every layer). Only file contents and the tar-split's own headers count, so
    /// a directory's mtime or a file's owner changed on disk is not a modified layer.
    #[arg(long)]
    pub verify_layers: bool,

    /// Distribution roots: uploads started longer ago than this are stale (registry-upload-stale).
    /// A duration such as 168h, 1.5h, 7d or 1h30m.
    #[arg(long, default_value = "168h", value_name = "AGE", value_parser = parse_age, allow_hyphen_values = true)]
    pub upload_max_age: std::time::Duration,

    /// How much platform coverage the text output shows: a store-wide summary, one line
    /// per tag, or none. JSON always lists every tag.
    #[arg(long, value_enum, default_value_t = CoverageOption::Summary, value_name = "DETAIL")]
    pub coverage: CoverageOption,

    /// How much of what garbage collection would reclaim the text shows: one registry's
    /// table cut to the repositories that reclaim the most, or a line per registry when
    /// there are several (summary); every table whole (full); none. JSON holds every row.
    #[arg(long, value_enum, default_value_t = CoverageOption::Summary, value_name = "DETAIL")]
    pub reclaimable: CoverageOption,

    /// How much of the supply-chain view the text shows: signed tags, SBOMs, provenance
    /// and orphaned referrers store-wide (summary, printed when the store has referrers),
    /// one line per tag and orphan (full), or none. JSON always holds every row.
    #[arg(long, value_enum, default_value_t = CoverageOption::Summary, value_name = "DETAIL")]
    pub referrers: CoverageOption,

    /// Fail tags of images that lack a kind of referrer: any of signature, sbom,
    /// provenance, comma-separated (tag-signature-missing, tag-sbom-missing,
    /// tag-provenance-missing). Presence and consistency only: signatures are not verified.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KIND")]
    pub require: Vec<RequireOption>,

    /// Look for stores on other file systems (mount points) below PATH too; by default the
    /// search stays on PATH's file system, like `find -xdev`.
    #[arg(long)]
    pub cross_file_systems: bool,

    /// PATH is a zot root, whatever it holds. Needed only where zot left no file of its own
    /// (a bucket written by released zot: repositories with 0-byte markers, no
    /// _blobstore); roots with _blobstore, cache.db or .uploads are recognised anyway.
    #[arg(long)]
    pub zot: bool,

    /// A verification ledger (SQLite, outside the audited tree): blobs hashed clean before
    /// whose fingerprint did not change are trusted instead of re-hashed, except those due
    /// under --reverify-after; every run is recorded with its findings, and compared with
    /// the previous one (new and resolved findings).
    #[arg(long, value_name = "FILE", help_heading = "Nightly jobs")]
    pub state: Option<PathBuf>,

    /// With --state: every blob is re-hashed at least this often, the work spread over the
    /// runs of the window (30d, 7d, 12h; 0s hashes everything).
    #[arg(long, default_value = "30d", value_name = "AGE", value_parser = parse_age, allow_hyphen_values = true, requires = "state", help_heading = "Nightly jobs")]
    pub reverify_after: std::time::Duration,

    /// With --state: at most this many bytes re-hashed in one run for being due (new and
    /// changed blobs are always hashed); what it leaves goes first next run.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true, requires = "state", help_heading = "Nightly jobs")]
    pub hash_budget: Option<u64>,

    /// Write Prometheus metrics (text exposition format, for node_exporter's textfile
    /// collector) to FILE, atomically, outside the audited tree; also when the audit
    /// cannot run.
    #[arg(long, value_name = "FILE", help_heading = "Nightly jobs")]
    pub metrics_file: Option<PathBuf>,

    /// Before a finding a concurrent writer can produce (a missing link, a tag without
    /// its revision, a vanished blob) fails the run, wait this long and read its files
    /// again: if they changed, it is reported as changed-during-audit (info) instead.
    #[arg(long, default_value = "2s", value_name = "AGE", value_parser = parse_age, allow_hyphen_values = true, env = "OCI_AUDIT_SETTLE")]
    pub settle: std::time::Duration,

    /// Audit one slice of an audit split across machines: I/N (I counts from 0) runs the
    /// whole metadata pass, hashes only the blobs whose digest falls in slice I of N, and
    /// writes a partial result to --partial for `oci-audit merge`, which applies the
    /// policy and decides the exit code. auto/N takes I from JOB_COMPLETION_INDEX, as a
    /// Kubernetes Indexed Job sets it.
    #[arg(
        long,
        value_name = "I/N",
        requires = "partial",
        help_heading = "Across machines"
    )]
    pub shard: Option<String>,

    /// Where --shard writes its partial result: JSON, atomically, outside the audited
    /// tree. A shard exits 0 once it is written, 2 when the audit could not run.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["state", "baseline", "fail_on_new", "metrics_file"], help_heading = "Across machines")]
    pub partial: Option<PathBuf>,

    /// The shared metadata pass of a sharded audit. With `oci-audit plan`: where the plan
    /// is written. With --shard: the plan to read instead of the store's metadata (the
    /// shard hashes only its slice of the plan's blobs, balanced by bytes); give the same
    /// plan to `merge --plan`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["state", "baseline", "fail_on_new", "metrics_file"], help_heading = "Across machines")]
    pub plan: Option<PathBuf>,

    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

impl std::ops::Deref for Cli {
    type Target = AuditArgs;

    fn deref(&self) -> &AuditArgs {
        &self.audit
    }
}

/// What is reported and what fails the run: given to an audit, and to `merge`, which
/// applies it to the shards' findings.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = Level::Error)]
    pub fail_on: Level,

    /// Override a rule's severity: RULE=error|warning|info|ignore (repeatable).
    #[arg(long = "severity", value_name = "RULE=LEVEL")]
    pub severities: Vec<String>,

    /// Ignore findings about this digest (repeatable), as git fsck's skipList.
    #[arg(long = "skip", value_name = "DIGEST")]
    pub skip: Vec<String>,

    /// File of digests whose findings are ignored: one per line, `#` comments.
    #[arg(long, value_name = "FILE")]
    pub skip_list: Option<PathBuf>,

    /// An earlier JSON report: every finding is marked new or known against it, and its
    /// findings that are gone are listed as resolved. (An audit with a ledger and no
    /// --baseline compares with the ledger's previous run.)
    #[arg(long, value_name = "REPORT.json", help_heading = "Nightly jobs")]
    pub baseline: Option<PathBuf>,

    /// Only new findings (against the baseline) at or above --fail-on fail the run.
    #[arg(long, help_heading = "Nightly jobs")]
    pub fail_on_new: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the metadata pass of a sharded audit once (list the store, read its documents)
    /// and write it to --plan FILE: each shard then runs `oci-audit --plan FILE --shard I/N
    /// --partial PART PATH` and hashes only its slice, and `merge --plan FILE PART...`
    /// makes the report. Takes an audit's options; give the shards the same.
    Plan {
        #[command(flatten)]
        audit: Box<AuditArgs>,
    },
    /// Merge the partial results of an audit run as --shard I/N --partial FILE into the
    /// report one unsharded run prints, with its exit code.
    Merge {
        /// One partial result per shard.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The plan the shards were run with (`oci-audit plan`): every part must come from
        /// it.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// How much platform coverage the text output shows.
        #[arg(long, value_enum, default_value_t = CoverageOption::Summary, value_name = "DETAIL")]
        coverage: CoverageOption,
        /// How much of what garbage collection would reclaim the text shows.
        #[arg(long, value_enum, default_value_t = CoverageOption::Summary, value_name = "DETAIL")]
        reclaimable: CoverageOption,
        /// How much of the supply-chain view the text shows.
        #[arg(long, value_enum, default_value_t = CoverageOption::Summary, value_name = "DETAIL")]
        referrers: CoverageOption,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Write Prometheus metrics of the merged report to FILE, atomically, as an
        /// unsharded audit's --metrics-file; also when the merge cannot be made.
        #[arg(long, value_name = "FILE")]
        metrics_file: Option<PathBuf>,
        /// Write the report to FILE (atomically) instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// No progress bar (merge draws none: accepted, so that a command line that works
        /// for an audit works for merge).
        #[arg(long, short)]
        quiet: bool,
    },
    /// The last runs a ledger recorded: date, duration, bytes hashed, findings.
    History {
        /// The ledger.
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// How many runs, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Print a shell's completion script (docs/reference.md says where each shell looks).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page as roff: `oci-audit man | man -l -`, or install it as
    /// oci-audit.1 in a man1 directory.
    Man,
    /// List every rule with its default severity, or explain one.
    Rules {
        /// Print what RULE checks, why, and the spec section.
        #[arg(long, value_name = "RULE")]
        explain: Option<String>,
        /// Output format of the list.
        #[arg(long, value_enum, default_value_t = RulesFormat::Text)]
        format: RulesFormat,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    /// One self-contained page: findings to filter and sort, coverage, reclaimable bytes.
    Html,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CoverageOption {
    Summary,
    Full,
    None,
}

impl From<CoverageOption> for CoverageDetail {
    fn from(option: CoverageOption) -> CoverageDetail {
        match option {
            CoverageOption::Summary => CoverageDetail::Summary,
            CoverageOption::Full => CoverageDetail::Full,
            CoverageOption::None => CoverageDetail::None,
        }
    }
}

impl From<CoverageOption> for ReclaimableDetail {
    fn from(option: CoverageOption) -> ReclaimableDetail {
        match option {
            CoverageOption::Summary => ReclaimableDetail::Summary,
            CoverageOption::Full => ReclaimableDetail::Full,
            CoverageOption::None => ReclaimableDetail::None,
        }
    }
}

/// A kind of referrer `--require` asks every tag for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RequireOption {
    Signature,
    Sbom,
    Provenance,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RulesFormat {
    Text,
    Markdown,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Level {
    Error,
    Warning,
    Info,
}

impl From<Level> for Severity {
    fn from(level: Level) -> Severity {
        match level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
            Level::Info => Severity::Info,
        }
    }
}

impl PolicyArgs {
    /// The severity policy these arguments ask for.
    pub fn policy(&self) -> Result<Policy> {
        let mut policy = Policy {
            fail_on: self.fail_on.into(),
            fail_on_new: self.fail_on_new,
            ..Policy::default()
        };
        for spec in &self.severities {
            let (rule, level) = spec
                .split_once('=')
                .with_context(|| format!("--severity {spec:?}: expected RULE=LEVEL"))?;
            let rule: Rule = rule
                .parse()
                .map_err(|e| anyhow::anyhow!("--severity {spec:?}: {e}"))?;
            let level = match level {
                "ignore" => Override::Ignore,
                other => Override::Severity(
                    other
                        .parse()
                        .map_err(|e| anyhow::anyhow!("--severity {spec:?}: {e} or ignore"))?,
                ),
            };
            policy
                .set_override(rule, level)
                .map_err(|e| anyhow::anyhow!("--severity {spec:?}: {e}"))?;
        }
        for digest in &self.skip {
            policy
                .skip
                .insert(parse_digest(digest).with_context(|| format!("--skip {digest:?}"))?);
        }
        if let Some(file) = &self.skip_list {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("--skip-list {}", file.display()))?;
            for (number, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let digest = parse_digest(line)
                    .with_context(|| format!("{}:{}: not a digest", file.display(), number + 1))?;
                policy.skip.insert(digest);
            }
        }
        Ok(policy)
    }

    /// The findings of `--baseline`, when given.
    pub fn baseline(&self) -> Result<Option<Baseline>> {
        match &self.baseline {
            Some(file) => read_baseline(file).map(Some),
            None => Ok(None),
        }
    }
}

impl AuditArgs {
    /// The library options these arguments ask for.
    /// What `--require` asks every tag for.
    fn require(&self) -> Require {
        let asks = |kind| self.require.contains(&kind);
        Require {
            signature: asks(RequireOption::Signature),
            sbom: asks(RequireOption::Sbom),
            provenance: asks(RequireOption::Provenance),
        }
    }

    pub fn options(&self) -> Result<Options> {
        if self.policy.fail_on_new && self.policy.baseline.is_none() && self.state.is_none() {
            bail!(
                "--fail-on-new needs something to be new against: --baseline REPORT.json, or --state FILE (its previous run)"
            );
        }
        let policy = self.policy.policy()?;
        let open = OpenOptions {
            read_mode: if self.no_mmap {
                ReadMode::Read
            } else {
                ReadMode::Auto
            },
            io_concurrency: self.io_concurrency.map(usize::from),
            io_retries: self.io_retries.map(usize::from),
            detect: DetectOptions {
                cross_file_systems: self.cross_file_systems,
                zot: self.zot,
                registry: self.registry_config.is_some(),
            },
            ca_file: self.ca_file.clone(),
            repositories: self.repositories.clone(),
        };
        let check = CheckOptions {
            max_document_size: self.max_document_size,
            untagged: self.untagged,
            upload_max_age: self.upload_max_age,
            require: self.require(),
            require_layers: self.require_layers,
            verify_layers: self.verify_layers,
        };
        let run = RunOptions {
            threads: usize::from(self.threads),
            verify: !self.no_verify,
            policy,
            state: self.state.as_ref().map(|path| StateOptions {
                path: path.clone(),
                reverify_after: self.reverify_after,
                hash_budget: self.hash_budget,
            }),
            baseline: self.policy.baseline()?,
            now: None,
            settle: self.settle,
            shard: match &self.shard {
                Some(text) => Some(parse_shard(
                    text,
                    std::env::var("JOB_COMPLETION_INDEX").ok(),
                )?),
                None => None,
            },
        };
        Ok(Options { open, check, run })
    }

    /// What to audit: PATH (a directory or a URL), or the storage --registry-config names.
    pub fn target(&self) -> Result<Option<Target>> {
        if !self.more_paths.is_empty() {
            bail!(
                "oci-audit audits one PATH at a time, and {} were given: name the directory that holds them (every store below it is found and audited, in one report), or run oci-audit once per path",
                self.more_paths.len() + 1
            );
        }
        if let Some(file) = &self.registry_config {
            return Ok(Some(Target::from_registry_config(file)?));
        }
        match &self.path {
            Some(path) => Ok(Some(Target::parse(path.as_os_str())?)),
            None => Ok(None),
        }
    }
}

/// A duration as the registry's configuration writes one (`168h`, `1.5h`, `1h30m`), or
/// with days (`7d`), through `humantime`.
pub fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(format!("{text}: a duration cannot be negative"));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!(
            "{text}: give a unit, such as 168h, 1.5h, 30m or 7d"
        ));
    }
    humantime::parse_duration(text).map_err(|e| {
        format!("{text}: not a duration ({e}); write one such as 168h, 1.5h, 1h30m or 7d")
    })
}

/// A size in bytes, or with a unit (`4MiB`, `8MB`, `1.5 GiB`), through `bytesize`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(format!("{text}: a size cannot be negative"));
    }
    text.parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|_| format!("{text}: not a size; write bytes, or one such as 4MiB, 8MB or 1.5GiB"))
}

/// The findings of an earlier JSON report.
fn read_baseline(file: &std::path::Path) -> Result<Baseline> {
    let bytes = std::fs::read(file).with_context(|| format!("--baseline {}", file.display()))?;
    let findings = oci_audit::baseline::from_json(&bytes)
        .map_err(|e| anyhow::anyhow!("--baseline {}: {e}", file.display()))?;
    Ok(Baseline {
        source: file.display().to_string(),
        findings,
    })
}

/// `--shard I/N`, or `auto/N` with I from `JOB_COMPLETION_INDEX` (`index`).
fn parse_shard(text: &str, index: Option<String>) -> Result<Shard> {
    let Some(count) = text.strip_prefix("auto/") else {
        return text.parse().map_err(|e| anyhow::anyhow!("--shard {e}"));
    };
    let Some(index) = index else {
        bail!(
            "--shard {text}: auto takes the shard's index from JOB_COMPLETION_INDEX, which is not set (it is set in the pods of a Kubernetes Job with completionMode: Indexed); give the index instead, as I/{count}"
        );
    };
    format!("{}/{count}", index.trim())
        .parse()
        .map_err(|e| anyhow::anyhow!("--shard {text} with JOB_COMPLETION_INDEX={index}: {e}"))
}

fn parse_digest(text: &str) -> Result<Digest> {
    match Digest::parse(text) {
        Ok(digest) => Ok(digest),
        Err(error) => bail!("{error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("168h").unwrap().as_secs(), 168 * 3600);
        assert_eq!(parse_age("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(parse_age("0s").unwrap().as_secs(), 0);
        assert_eq!(parse_age("1.5h").unwrap().as_secs(), 5400);
        assert_eq!(parse_age("1h30m").unwrap().as_secs(), 5400);
        for bad in ["", "h", "168", "1.5", "1x", "99999999999999999999999h"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_age("-1h").unwrap_err(),
            "-1h: a duration cannot be negative"
        );
    }

    #[test]
    fn shards_auto_take_the_job_index() {
        let shard = |text, index: Option<&str>| parse_shard(text, index.map(str::to_owned));
        assert_eq!(shard("1/3", None).unwrap(), Shard::new(1, 3).unwrap());
        assert_eq!(
            shard("auto/3", Some("2")).unwrap(),
            Shard::new(2, 3).unwrap()
        );
        let unset = shard("auto/3", None).unwrap_err().to_string();
        assert!(unset.contains("JOB_COMPLETION_INDEX"), "{unset}");
        assert!(shard("auto/3", Some("3")).is_err());
        assert!(shard("auto/x", Some("0")).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("8MB").unwrap(), 8_000_000);
        assert_eq!(parse_size("1.5 GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "MiB", "1 parsec"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_size("-1").unwrap_err(),
            "-1: a size cannot be negative"
        );
    }
}
