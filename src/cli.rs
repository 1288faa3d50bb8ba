//! Command-line arguments (clap derive) and their conversion into library [`Options`].

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use oci_audit::hash::ReadMode;
use oci_audit::model::digest::Digest;
use oci_audit::store::detect::DetectOptions;
use oci_audit::{Options, Override, Policy, Rule, Severity};

/// Audit OCI image storage (image layouts, directories of layouts, Docker Distribution
/// roots such as /var/lib/registry) the way `git fsck`
/// audits a repository: every blob re-hashed, every descriptor checked, nothing written.
#[derive(Debug, Parser)]
#[command(name = "oci-audit", version, args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Exit status: 0 no findings at or above --fail-on, 1 findings at or above it, 2 the audit could not run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The store to audit: an OCI image layout, a directory holding layouts, or a Docker
    /// Distribution root (the registry's rootdirectory, or its docker/registry/v2).
    pub path: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Worker threads (0: one per core, or RAYON_NUM_THREADS). At most 1024: the work is
    /// bound by disks and hash units, and each thread holds a read buffer.
    #[arg(long, short = 'j', default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub threads: u16,

    /// Check connectivity and sizes only: do not re-hash layers and other non-document
    /// blobs (documents are still hashed, as they are read anyway).
    #[arg(long)]
    pub no_verify: bool,

    /// Never memory-map blobs; always read them: the smallest resident memory. (Mapped
    /// blobs truncated under the audit are survived either way and reported.)
    #[arg(long)]
    pub no_mmap: bool,

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

    /// Documents larger than this many bytes are not parsed (document-too-large).
    #[arg(long, default_value_t = 8 * 1024 * 1024, value_name = "BYTES")]
    pub max_document_size: u64,

    /// Distribution roots: report what `registry garbage-collect --delete-untagged` would
    /// reclaim (only tagged manifests are kept; children of tagged indexes and referrers
    /// of kept manifests are kept too) instead of plain `garbage-collect`.
    #[arg(long)]
    pub untagged: bool,

    /// Distribution roots: uploads started longer ago than this are stale (registry-upload-stale).
    /// A number with a unit: s, m, h or d.
    #[arg(long, default_value = "168h", value_name = "AGE", value_parser = parse_age)]
    pub upload_max_age: std::time::Duration,

    /// Look for stores on other file systems (mount points) below PATH too; by default the
    /// search stays on PATH's file system, like `find -xdev`.
    #[arg(long)]
    pub cross_file_systems: bool,

    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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

impl Cli {
    /// The library options these arguments ask for.
    pub fn options(&self) -> Result<Options> {
        let mut policy = Policy {
            fail_on: self.fail_on.into(),
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
            policy.overrides.insert(rule, level);
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
        Ok(Options {
            threads: usize::from(self.threads),
            verify: !self.no_verify,
            read_mode: if self.no_mmap {
                ReadMode::Read
            } else {
                ReadMode::Auto
            },
            max_document_size: self.max_document_size,
            policy,
            untagged: self.untagged,
            upload_max_age: self.upload_max_age,
            detect: DetectOptions {
                cross_file_systems: self.cross_file_systems,
            },
        })
    }
}

/// A duration as the registry's configuration writes one: `168h`, `30m`, `7d`, `90s`.
fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?}: give a unit: s, m, h or d (e.g. 168h)"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number then s, m, h or d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: unknown unit {unit:?}; use s, m, h or d")),
    };
    number
        .checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?}: too long"))
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
        for bad in ["", "h", "168", "1w", "-1h", "99999999999999999999h"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
