//! The `oci-audit` binary: parse arguments, run the library's audit, render, exit.
//! Exit status: 0 clean, 1 findings at or above `--fail-on`, 2 the audit could not run.

mod cli;
mod history;
mod metrics;
mod progress;

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{CommandFactory, Parser};

use cli::{AuditArgs, Cli, Command, CoverageOption, OutputFormat, RulesFormat};
use oci_audit::{Format, Rule, report};

/// jemalloc, built to give freed pages back at once (`.cargo/config.toml`): with glibc's
/// malloc, each phase's freed memory stayed resident in the reading threads' arenas and
/// raised the peak RSS by a quarter (docs/internals.md, "Dependencies").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = parse();
    match run(&cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("oci-audit: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// The command line, with the flags written before a subcommand (`oci-audit -q merge …`)
/// read after it: clap takes the first word that is not a flag as PATH, and people write
/// global flags first. Only when no file of that name is there.
fn parse() -> Cli {
    let cli = Cli::parse();
    let Some(word) = cli.path.as_deref().and_then(|p| p.to_str()) else {
        return cli;
    };
    let is_subcommand = Cli::command()
        .get_subcommands()
        .any(|command| command.get_name() == word);
    if !is_subcommand || Path::new(word).exists() {
        return cli;
    }
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let Some(at) = args.iter().skip(1).position(|a| a == word) else {
        return cli;
    };
    let word = args.remove(at + 1);
    args.insert(1, word);
    Cli::parse_from(args)
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Some(Command::Rules { explain, format }) => {
            let text = match explain {
                Some(id) => explain_rule(id.parse().map_err(anyhow::Error::msg)?),
                None => list_rules(*format),
            };
            return Ok(write_stdout(&text));
        }
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "oci-audit", &mut script);
            return Ok(write_stdout(&String::from_utf8(script)?));
        }
        Some(Command::Man) => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            return Ok(write_stdout(&String::from_utf8(page)?));
        }
        Some(Command::History {
            state,
            format,
            limit,
        }) => {
            let runs = oci_audit::ledger::history(state, *limit)?;
            let text = match format {
                OutputFormat::Text => history::render(&runs),
                OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&runs)?),
                OutputFormat::Html => anyhow::bail!(
                    "history prints text or JSON; an audit's --format html charts the ledger's last runs"
                ),
            };
            return Ok(write_stdout(&text));
        }
        Some(Command::Plan { audit }) => return make_plan(audit),
        Some(Command::Merge {
            files,
            plan,
            format,
            coverage,
            reclaimable,
            referrers,
            policy,
            metrics_file,
            output,
            quiet: _,
        }) => {
            if policy.fail_on_new && policy.baseline.is_none() {
                anyhow::bail!(
                    "--fail-on-new needs something to be new against: --baseline REPORT.json"
                );
            }
            let started = SystemTime::now();
            let baseline = policy.baseline()?;
            let policy = policy.policy()?;
            let (merged, store) = merge(files, plan.as_deref(), &policy, baseline.as_ref());
            if let Some(file) = metrics_file {
                metrics::write(file, &store, None, merged.as_ref().ok(), started)?;
            }
            let to = Destination {
                format: *format,
                coverage: *coverage,
                reclaimable: *reclaimable,
                referrers: *referrers,
                output: output.as_deref(),
                history: &[],
            };
            return Ok(emit(&merged?, &to, &policy));
        }
        None => {}
    }
    let Some(target) = cli.target()? else {
        anyhow::bail!("no PATH given (try `oci-audit --help`)");
    };
    let options = cli.options()?;
    if let (Some(file), Some(path)) = (&cli.metrics_file, target.local()) {
        refuse_inside("--metrics-file", file, path)?;
    }
    if let (Some(file), Some(path)) = (&cli.output, target.local()) {
        refuse_inside("--output", file, path)?;
    }
    if let (Some(plan), None) = (&cli.plan, &cli.partial) {
        anyhow::bail!(
            "--plan {}: a shard reads a plan with --plan FILE --shard I/N --partial PART; a plan is made by `oci-audit plan PATH --plan FILE`",
            plan.display()
        );
    }
    if let Some(file) = &cli.partial {
        if let Some(path) = target.local() {
            refuse_inside("--partial", file, path)?;
        }
        if let Some(plan) = &cli.plan {
            let (plan, id) = oci_audit::shard::plan::ShardPlan::read(plan)?;
            let part = if !cli.quiet && io::stderr().is_terminal() {
                oci_audit::audit::audit_planned(
                    &target,
                    &plan,
                    &id,
                    &options,
                    &progress::Bar::new(),
                )
            } else {
                oci_audit::audit::audit_planned(
                    &target,
                    &plan,
                    &id,
                    &options,
                    &oci_audit::NoProgress,
                )
            }?;
            part.write(file)?;
            return Ok(ExitCode::SUCCESS);
        }
        let partial = if !cli.quiet && io::stderr().is_terminal() {
            oci_audit::audit_shard(&target, &options, &progress::Bar::new())
        } else {
            oci_audit::audit_shard(&target, &options, &oci_audit::NoProgress)
        }?;
        partial.write(file)?;
        return Ok(ExitCode::SUCCESS);
    }
    let started = SystemTime::now();
    let show_progress = !cli.quiet && io::stderr().is_terminal();
    let audited = if show_progress {
        oci_audit::audit_target(&target, &options, &progress::Bar::new())
    } else {
        oci_audit::audit_target(&target, &options, &oci_audit::NoProgress)
    };
    if let Some(file) = &cli.metrics_file {
        let ledger = options.run.state.as_ref().map(|state| state.path.as_path());
        metrics::write(
            file,
            &target.display(),
            ledger,
            audited.as_ref().ok(),
            started,
        )?;
    }
    let report = audited?;
    // The page charts the ledger's last runs, this one included.
    let history = match (&options.run.state, cli.format) {
        (Some(state), OutputFormat::Html) => {
            oci_audit::ledger::history(&state.path, 30).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let to = Destination {
        format: cli.format,
        coverage: cli.coverage,
        reclaimable: cli.reclaimable,
        referrers: cli.referrers,
        output: cli.output.as_deref(),
        history: &history,
    };
    Ok(emit(&report, &to, &options.run.policy))
}

/// `oci-audit plan`: the metadata pass once, written to `--plan FILE` for the shards.
fn make_plan(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let Some(file) = &args.plan else {
        anyhow::bail!("oci-audit plan needs --plan FILE: where the plan is written");
    };
    if args.partial.is_some() || args.shard.is_some() {
        anyhow::bail!(
            "oci-audit plan writes the plan the shards read: run each shard afterwards as `oci-audit --plan FILE --shard I/N --partial PART PATH`"
        );
    }
    // The plan is no report: the merge of its shards is, and takes these flags.
    if args.output.is_some() || !matches!(args.format, OutputFormat::Text) {
        anyhow::bail!(
            "oci-audit plan writes no report: give --output and --format to `oci-audit merge --plan FILE PART...`, which writes the audit's report"
        );
    }
    let Some(target) = args.target()? else {
        anyhow::bail!("oci-audit plan needs the store: oci-audit plan PATH --plan FILE");
    };
    let options = args.options()?;
    if let Some(path) = target.local() {
        refuse_inside("--plan", file, path)?;
    }
    let plan = if !args.quiet && io::stderr().is_terminal() {
        oci_audit::audit::plan(&target, &options, &progress::Bar::new())
    } else {
        oci_audit::audit::plan(&target, &options, &oci_audit::NoProgress)
    }?;
    let id = plan.write(file)?;
    let bytes: u64 = oci_audit::shard::plan::blobs(&plan.sets)
        .map(|(_, blob)| blob.len)
        .sum();
    let text = format!(
        "{}: plan {id} of {}: {} blobs to hash ({}) in {} store{}, {} findings from the metadata pass\n",
        file.display(),
        plan.name,
        oci_audit::shard::plan::blob_count(&plan.sets),
        bytesize::ByteSize::b(bytes).display().iec(),
        plan.parts.len(),
        if plan.parts.len() == 1 { "" } else { "s" },
        plan.findings.len(),
    );
    Ok(write_stdout(&text))
}

/// The report `merge` makes of the partial results in `files` (of the shards of `plan`,
/// when given), and the store they name (for the metrics' label, also when the merge
/// fails: the first part's or the plan's, else the first file).
fn merge(
    files: &[std::path::PathBuf],
    plan: Option<&Path>,
    policy: &oci_audit::Policy,
    baseline: Option<&oci_audit::audit::Baseline>,
) -> (anyhow::Result<oci_audit::Report>, String) {
    let mut store = files
        .first()
        .map_or_else(String::new, |f| f.display().to_string());
    if let Some(plan) = plan {
        let merged = merge_planned(files, plan, policy, baseline, &mut store);
        return (merged, store);
    }
    let mut merger = oci_audit::shard::merge::Merger::new();
    for (i, file) in files.iter().enumerate() {
        let part = match oci_audit::shard::Partial::read(file) {
            Ok(part) => part,
            Err(error) => {
                if let Ok(Some(_)) = oci_audit::shard::plan::PlannedPart::read(file) {
                    let error = anyhow::anyhow!(
                        "{}: a part of a shard run with a plan: give merge that plan, --plan FILE",
                        file.display()
                    );
                    return (Err(error), store);
                }
                return (Err(error.into()), store);
            }
        };
        if i == 0 {
            store = part.name.clone();
        }
        if let Err(error) = merger.add(&file.display().to_string(), part) {
            return (Err(error.into()), store);
        }
    }
    (merger.finish(policy, baseline).map_err(Into::into), store)
}

/// `merge --plan`: the parts in `files`, each checked against the plan in `plan`, merged
/// with the plan's metadata pass; `store` becomes the plan's name for the store.
fn merge_planned(
    files: &[std::path::PathBuf],
    plan: &Path,
    policy: &oci_audit::Policy,
    baseline: Option<&oci_audit::audit::Baseline>,
    store: &mut String,
) -> anyhow::Result<oci_audit::Report> {
    use oci_audit::shard::plan::{Plan, PlannedPart};
    let (plan, id) = Plan::read(plan)?;
    store.clone_from(&plan.name);
    let mut parts = Vec::with_capacity(files.len());
    for file in files {
        let Some(part) = PlannedPart::read(file)? else {
            anyhow::bail!(
                "{}: not a part of a shard run with --plan: merge it without --plan",
                file.display()
            );
        };
        parts.push((file.display().to_string(), part));
    }
    let mut merger = oci_audit::shard::merge::Merger::new();
    for (path, partial) in oci_audit::shard::merge::planned_partials(plan, &id, parts)? {
        merger.add(&path, partial)?;
    }
    Ok(merger.finish(policy, baseline)?)
}

/// Refuses a file the tool writes (`flag` names it) inside the audited tree: nothing is
/// written into a store. (`--state` is checked by the library, which opens the ledger.)
fn refuse_inside(flag: &str, file: &Path, store: &Path) -> anyhow::Result<()> {
    let Ok(root) = std::fs::canonicalize(store) else {
        // The audit reports an unreadable path itself.
        return Ok(());
    };
    if oci_audit::target::is_inside(file, &root) {
        anyhow::bail!(
            "{flag} {}: must be outside the audited tree ({}); nothing is written into a store",
            file.display(),
            root.display()
        );
    }
    Ok(())
}

/// Where and how a report is written.
struct Destination<'a> {
    format: OutputFormat,
    coverage: CoverageOption,
    reclaimable: CoverageOption,
    referrers: CoverageOption,
    /// `--output FILE`, else stdout.
    output: Option<&'a Path>,
    /// With a ledger, its last runs (the HTML page charts them).
    history: &'a [oci_audit::ledger::RunRecord],
}

/// Writes the report in its format to stdout or, atomically, to `--output`; the exit code
/// is the report's under `policy`, or 2 when the output could not be written.
fn emit(report: &oci_audit::Report, to: &Destination, policy: &oci_audit::Policy) -> ExitCode {
    let format = match to.format {
        OutputFormat::Text => Format::Text,
        OutputFormat::Json => Format::Json,
        OutputFormat::Html => Format::Html,
    };
    let view = report::View {
        coverage: to.coverage.into(),
        reclaimable: to.reclaimable.into(),
        referrers: to.referrers.into(),
        exit_code: report.exit_code(policy),
        history: to.history,
    };
    let written = match to.output {
        Some(file) => {
            oci_audit::atomic::write_file(file, |out| report::write(report, format, &view, out))
        }
        None => {
            let mut stdout = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
            report::write(report, format, &view, &mut stdout).and_then(|()| stdout.flush())
        }
    };
    match written {
        Ok(()) => {}
        // A closed pipe (`| head`) ends the program quietly, with the audit's verdict.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {}
        Err(error) => {
            let place = to
                .output
                .map_or_else(|| "output".to_owned(), |f| f.display().to_string());
            eprintln!("oci-audit: error: writing {place}: {error}");
            return ExitCode::from(2);
        }
    }
    if let Some(why) = &report.incomplete {
        eprintln!("oci-audit: error: the audit is incomplete: {why}");
    }
    match report.exit_code(policy) {
        0 => ExitCode::SUCCESS,
        1 => ExitCode::from(1),
        _ => ExitCode::from(2),
    }
}

/// Writes to stdout; a closed pipe (`| head`) ends the program quietly.
fn write_stdout(text: &str) -> ExitCode {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("oci-audit: error: writing output: {error}");
            ExitCode::from(2)
        }
    }
}

fn severity_name(rule: Rule) -> &'static str {
    rule.default_severity().map_or("off", |s| s.as_str())
}

fn list_rules(format: RulesFormat) -> String {
    let mut out = String::new();
    match format {
        RulesFormat::Text => {
            for &rule in Rule::ALL {
                out += &format!(
                    "{:<32} {:<8} {}\n",
                    rule.id(),
                    severity_name(rule),
                    rule.summary()
                );
            }
        }
        RulesFormat::Markdown => {
            out += "| rule | default | what it checks | spec |\n| --- | --- | --- | --- |\n";
            for &rule in Rule::ALL {
                out += &format!(
                    "| `{}` | {} | {} | {} |\n",
                    rule.id(),
                    severity_name(rule),
                    rule.summary(),
                    rule.spec()
                );
            }
        }
    }
    out
}

fn explain_rule(rule: Rule) -> String {
    format!(
        "{id}\n\nDefault severity: {severity}\nWhat it checks: {summary}\nWhy: {why}\nSpec: {spec}\n",
        id = rule.id(),
        severity = severity_name(rule),
        summary = rule.summary(),
        why = rule.why(),
        spec = rule.spec(),
    )
}
