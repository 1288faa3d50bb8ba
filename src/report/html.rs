//! The HTML rendering (`--format html`): one self-contained page, readable without
//! JavaScript and better with it. Nothing leaves the page: styles and the script are
//! inline, there is no font, image or link to fetch, and a Content-Security-Policy of
//! `default-src 'none'` makes the browser refuse any request the page might try.
//!
//! The page shows the summary line and the exit status; the findings grouped by rule (each
//! rule with its `rules --explain` text) and in one table, which the script filters by
//! rule, severity and text and sorts by column; the platform coverage as a matrix of tags
//! by platforms (summarised past [`MATRIX_ROWS`] tags unless `--coverage full`, the whole
//! matrix then behind a toggle); reclaimable bytes per repository as bars; and with a
//! ledger its last runs as small charts. Every text from the store is escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::finding::Finding;
use crate::ledger::RunRecord;
use crate::model::coverage::Coverage;
use crate::model::platform::Platform;
use crate::model::supply_chain::{SupplyChain, labels};
use crate::report::text::{bytes, plural};
use crate::report::{CoverageDetail, Report};
use crate::rules::{Rule, Severity};

/// Tags past which the coverage matrix is summarised unless `--coverage full` asks for it.
pub const MATRIX_ROWS: usize = 300;

/// Renders `report` as a page; `exit_code` is the run's (the policy decides it), `history`
/// the ledger's last runs, newest first (empty without a ledger).
pub fn render(
    report: &Report,
    coverage: CoverageDetail,
    referrers: CoverageDetail,
    exit_code: i32,
    history: &[RunRecord],
) -> String {
    let mut page = String::with_capacity(64 * 1024 + report.findings.len() * 512);
    let title = format!("oci-audit: {}", report.store.path);
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let mut sections = vec![("findings", "Findings")];
    let shows_coverage = coverage != CoverageDetail::None && !report.coverage.is_empty();
    if shows_coverage {
        sections.push(("coverage", "Coverage"));
    }
    let shows_chain = referrers != CoverageDetail::None && report.supply_chain.has_referrers();
    if shows_chain {
        sections.push(("supply-chain", "Supply chain"));
    }
    if report.reclaimable.is_some() {
        sections.push(("reclaimable", "Reclaimable"));
    }
    if !history.is_empty() {
        sections.push(("runs", "Last runs"));
    }
    header(&mut page, report, exit_code, &sections);
    findings(&mut page, report);
    if shows_coverage {
        coverage_section(&mut page, &report.coverage, coverage);
    }
    if shows_chain {
        supply_chain(&mut page, &report.supply_chain, referrers);
    }
    reclaimable(&mut page, report);
    runs(&mut page, history);
    let _ = write!(
        page,
        "<footer>oci-audit {} · report format {}</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        escape(env!("CARGO_PKG_VERSION")),
        report.version
    );
    page
}

/// `&`, `<`, `>`, `"` and `'` escaped: safe in text and in quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The summary line (the text's), the exit status, the store, what could not be checked,
/// and links to the `sections` shown.
fn header(page: &mut String, report: &Report, exit_code: i32, sections: &[(&str, &str)]) {
    let status = match exit_code {
        0 => "exit 0: no finding at or above the failure threshold",
        1 => "exit 1: findings at or above the failure threshold",
        _ => "exit 2: the audit is incomplete",
    };
    let kinds: Vec<String> = report
        .store
        .stores
        .iter()
        .map(|s| {
            let path = s.path.lossy();
            let kind = serde_json::to_value(s.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            if path.is_empty() {
                kind
            } else {
                format!("{kind} at {path}")
            }
        })
        .collect();
    let _ = write!(
        page,
        "<header>\n<h1>oci-audit <span class=\"path\">{}</span></h1>\n\
         <p class=\"status exit-{exit_code}\" id=\"status\">{status}</p>\n\
         <p class=\"summary\" id=\"summary\">{}</p>\n<p class=\"stores\">{}</p>\n",
        escape(&report.store.path),
        escape(&super::text::summary_line(report)),
        escape(&kinds.join("; ")),
    );
    let mut notes: Vec<&str> = report
        .store
        .stores
        .iter()
        .filter_map(|s| s.not_checked.as_deref())
        .collect();
    notes.dedup();
    for note in notes {
        let _ = writeln!(page, "<p class=\"note\">not checked: {}</p>", escape(note));
    }
    if let Some(why) = &report.incomplete {
        let _ = writeln!(
            page,
            "<p class=\"note incomplete\">incomplete: {}</p>",
            escape(why)
        );
    }
    page.push_str("<nav>");
    for (id, title) in sections {
        let _ = write!(page, "<a href=\"#{id}\">{title}</a> ");
    }
    page.push_str("</nav>\n</header>\n");
}

/// The findings by rule (with each rule's explanation), then every finding in one table.
fn findings(page: &mut String, report: &Report) {
    page.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
    if report.findings.is_empty() {
        page.push_str("<p class=\"clean\">No findings.</p>\n</section>\n");
        return;
    }
    let mut by_rule: BTreeMap<(std::cmp::Reverse<Severity>, Rule), usize> = BTreeMap::new();
    for finding in &report.findings {
        *by_rule
            .entry((std::cmp::Reverse(finding.severity), finding.rule))
            .or_default() += 1;
    }
    page.push_str(
        "<table class=\"rules\" id=\"rules\">\n<thead><tr><th>Severity</th><th>Rule</th><th>Findings</th><th>What it checks</th></tr></thead>\n<tbody>\n",
    );
    for ((std::cmp::Reverse(severity), rule), count) in &by_rule {
        let _ = writeln!(
            page,
            "<tr class=\"sev-{severity}\"><td>{severity}</td><td><code>{id}</code></td><td>{count}</td>\
             <td><details><summary>{summary}</summary><p>{why}</p><p class=\"spec\">Spec: {spec}</p></details></td></tr>",
            id = rule.id(),
            summary = escape(rule.summary()),
            why = escape(rule.why()),
            spec = escape(rule.spec()),
        );
    }
    page.push_str("</tbody>\n</table>\n");
    // The filters need the script; without it the table is shown whole.
    page.push_str(
        "<div class=\"controls\" id=\"controls\" hidden>\n\
         <label>Rule <select id=\"rule-filter\"><option value=\"\">every rule</option>",
    );
    for rule in by_rule
        .keys()
        .map(|(_, rule)| *rule)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let _ = write!(page, "<option value=\"{0}\">{0}</option>", rule.id());
    }
    page.push_str(
        "</select></label>\n<label>Severity <select id=\"severity-filter\"><option value=\"\">any</option>\
         <option>error</option><option>warning</option><option>info</option></select></label>\n\
         <label>Text <input id=\"text-filter\" type=\"search\" placeholder=\"path, digest, message\"></label>\n\
         <span id=\"shown\"></span>\n</div>\n",
    );
    page.push_str(
        "<table class=\"findings\" id=\"findings-table\">\n<thead><tr>\
         <th data-sort=\"severity\">Severity</th><th data-sort=\"text\">Rule</th>\
         <th data-sort=\"text\">Location</th><th data-sort=\"text\">Message</th>\
         <th>Expected / found</th></tr></thead>\n<tbody>\n",
    );
    for finding in &report.findings {
        finding_row(page, finding);
    }
    page.push_str("</tbody>\n</table>\n</section>\n");
}

fn finding_row(page: &mut String, finding: &Finding) {
    let location = &finding.location;
    let mut where_ = format!("<code>{}</code>", escape(&location.path.lossy()));
    if let Some(digest) = &location.digest {
        let _ = write!(
            where_,
            "<br><span class=\"digest\">{}</span>",
            escape(&digest.to_string())
        );
    }
    if let Some(via) = &location.via {
        let _ = write!(
            where_,
            "<br><span class=\"via\">via <code>{}</code> {}</span>",
            escape(&via.path.lossy()),
            escape(&via.pointer)
        );
    }
    let mut detail = String::new();
    if let Some(expected) = &finding.expected {
        let _ = write!(detail, "expected <code>{}</code>", escape(expected));
    }
    if let Some(found) = &finding.found {
        let _ = write!(
            detail,
            "{}found <code>{}</code>",
            if detail.is_empty() { "" } else { "<br>" },
            escape(found)
        );
    }
    let new = match finding.new {
        Some(true) => " <span class=\"new\">new</span>",
        _ => "",
    };
    let severity = finding.severity;
    let rank = match severity {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    };
    let _ = writeln!(
        page,
        "<tr class=\"finding sev-{severity}\" data-rule=\"{id}\" data-severity=\"{severity}\" data-rank=\"{rank}\">\
         <td>{severity}{new}</td><td><code>{id}</code></td><td>{where_}</td><td>{message}</td><td>{detail}</td></tr>",
        id = finding.rule.id(),
        message = escape(&finding.message),
    );
}

/// Platforms by the number of tags that cover them, most first.
fn platforms(coverage: &[Coverage]) -> Vec<(&Platform, usize)> {
    let mut counts: BTreeMap<&Platform, usize> = BTreeMap::new();
    for entry in coverage {
        for platform in entry.platforms.iter() {
            *counts.entry(platform).or_default() += 1;
        }
    }
    let mut rows: Vec<(&Platform, usize)> = counts.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    rows
}

/// The coverage: the platforms with their counts, then the matrix of tags by platforms
/// (whole when small or asked for, behind a toggle when large).
fn coverage_section(page: &mut String, coverage: &[Coverage], detail: CoverageDetail) {
    let columns = platforms(coverage);
    let _ = write!(
        page,
        "<section id=\"coverage\">\n<h2>Platform coverage</h2>\n<p>{} tag{} (or index.json entr{}).</p>\n\
         <table class=\"platforms\" id=\"platforms\"><thead><tr><th>Platform</th><th>Tags</th></tr></thead><tbody>\n",
        coverage.len(),
        plural(coverage.len()),
        if coverage.len() == 1 { "y" } else { "ies" }
    );
    for (platform, count) in &columns {
        let _ = writeln!(
            page,
            "<tr data-platform=\"{0}\"><td>{0}</td><td>{count}</td></tr>",
            escape(&platform.to_string())
        );
    }
    let without: usize = coverage.iter().filter(|c| c.platforms.is_empty()).count();
    if without > 0 {
        let _ = writeln!(
            page,
            "<tr><td><em>no platform</em></td><td>{without}</td></tr>"
        );
    }
    page.push_str("</tbody></table>\n");
    let large = coverage.len() > MATRIX_ROWS;
    if large && detail != CoverageDetail::Full {
        let _ = writeln!(
            page,
            "<p class=\"note\">The matrix of {} tags is left out of this summary; --coverage full puts it here.</p>\n</section>",
            coverage.len()
        );
        return;
    }
    if large {
        page.push_str("<details><summary>Every tag by platform</summary>\n");
    }
    page.push_str("<div class=\"scroll\"><table class=\"matrix\" id=\"coverage-matrix\">\n<thead><tr><th>Tag</th>");
    for (platform, _) in &columns {
        let _ = write!(
            page,
            "<th data-platform=\"{0}\"><span>{0}</span></th>",
            escape(&platform.to_string())
        );
    }
    page.push_str("<th>Also</th></tr></thead>\n<tbody>\n");
    for entry in coverage {
        let _ = write!(
            page,
            "<tr><th scope=\"row\" title=\"{}\">{}</th>",
            escape(&entry.digest.to_string()),
            escape(&entry.root)
        );
        for (platform, _) in &columns {
            let covered = entry.platforms.iter().any(|p| p == *platform);
            page.push_str(if covered {
                "<td class=\"yes\">✓</td>"
            } else {
                "<td class=\"no\"></td>"
            });
        }
        let exceptions = &entry.exceptions;
        let mut also = Vec::new();
        for (n, what) in [
            (exceptions.attestations.len(), "attestation"),
            (exceptions.artifacts.len(), "artifact"),
            (exceptions.without_platform.len(), "without platform"),
            (exceptions.missing.len(), "missing"),
            (exceptions.duplicates.len(), "duplicate platform"),
            (
                exceptions.discarded_layers.len(),
                "layer discarded once unpacked",
            ),
        ] {
            if n > 0 {
                also.push(format!("{n} {what}"));
            }
        }
        let _ = writeln!(page, "<td>{}</td></tr>", escape(&also.join(", ")));
    }
    page.push_str("</tbody></table></div>\n");
    if large {
        page.push_str("</details>\n");
    }
    page.push_str("</section>\n");
}

/// The supply-chain view: the store-wide line, a row per tag (what refers to it, by
/// format) summarised past [`MATRIX_ROWS`] tags as the coverage matrix is, and the
/// orphaned referrers.
fn supply_chain(page: &mut String, chain: &SupplyChain, detail: CoverageDetail) {
    let _ = write!(
        page,
        "<section id=\"supply-chain\">\n<h2>Supply chain</h2>\n<p id=\"supply-chain-summary\">{}</p>\n",
        escape(&super::text::supply_chain_line(chain))
    );
    let large = chain.tags.len() > MATRIX_ROWS;
    if large && detail != CoverageDetail::Full {
        let _ = writeln!(
            page,
            "<p class=\"note\">The table of {} tags is left out of this summary; --referrers full puts it here.</p>",
            chain.tags.len()
        );
    } else {
        if large {
            page.push_str("<details><summary>Every tag</summary>\n");
        }
        page.push_str(
            "<div class=\"scroll\"><table id=\"supply-chain-tags\"><thead><tr><th>Repository</th><th>Tag</th>\
             <th>Signatures</th><th>SBOMs</th><th>Provenance</th><th>Other</th></tr></thead><tbody>\n",
        );
        for row in &chain.tags {
            let _ = write!(
                page,
                "<tr><td>{}</td><td title=\"{}\">{}</td>",
                escape(&row.repository),
                escape(&row.digest.to_string()),
                escape(&row.tag)
            );
            for entries in [row.signatures(), row.sboms(), row.provenance(), row.other()] {
                let class = if entries.is_empty() { "no" } else { "yes" };
                let _ = write!(
                    page,
                    "<td class=\"{class}\">{}</td>",
                    escape(&labels(entries))
                );
            }
            page.push_str("</tr>\n");
        }
        page.push_str("</tbody></table></div>\n");
        if large {
            page.push_str("</details>\n");
        }
    }
    if !chain.orphans.is_empty() {
        page.push_str(
            "<h3>Orphaned referrers</h3>\n<table id=\"supply-chain-orphans\"><thead><tr><th>Repository</th><th>Referrer</th>\
             <th>Format</th><th>Subject</th><th>Bytes</th></tr></thead><tbody>\n",
        );
        for orphan in &chain.orphans {
            let by = orphan
                .tag
                .clone()
                .unwrap_or_else(|| orphan.digest.to_string());
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&orphan.repository),
                escape(&by),
                escape(&orphan.format),
                escape(&orphan.subject.to_string()),
                bytes(orphan.bytes)
            );
        }
        page.push_str("</tbody></table>\n");
    }
    page.push_str("</section>\n");
}

/// Reclaimable bytes per repository, as bars scaled to the largest.
fn reclaimable(page: &mut String, report: &Report) {
    let Some(rows) = &report.reclaimable else {
        return;
    };
    let largest = rows.iter().map(|r| r.bytes).max().unwrap_or(0).max(1);
    let total: u64 = report
        .store
        .stores
        .iter()
        .filter_map(|s| s.reclaimable_total.as_ref())
        .map(|t| t.bytes)
        .sum();
    let _ = write!(
        page,
        "<section id=\"reclaimable\">\n<h2>Reclaimable</h2>\n<p>Garbage collection would reclaim {} in all.</p>\n\
         <table class=\"bars\"><thead><tr><th>Repository</th><th>Bytes</th><th></th></tr></thead><tbody>\n",
        bytes(total)
    );
    let mut rows: Vec<_> = rows.iter().collect();
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.repository.cmp(&b.repository)));
    for row in rows {
        let percent = row.bytes as f64 * 100.0 / largest as f64;
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td class=\"bar\"><span style=\"width:{percent:.1}%\"></span></td></tr>",
            escape(&row.repository),
            bytes(row.bytes)
        );
    }
    page.push_str("</tbody></table>\n</section>\n");
}

/// The ledger's last runs, oldest first, as three small line charts.
fn runs(page: &mut String, history: &[RunRecord]) {
    if history.is_empty() {
        return;
    }
    let runs: Vec<&RunRecord> = history.iter().rev().collect();
    page.push_str("<section id=\"runs\">\n<h2>Last runs</h2>\n<div class=\"charts\">\n");
    let findings = |r: &RunRecord| {
        (r.errors.unwrap_or(0) + r.warnings.unwrap_or(0) + r.infos.unwrap_or(0)) as f64
    };
    let hashed = |r: &RunRecord| r.bytes_hashed.unwrap_or(0) as f64;
    let duration = |r: &RunRecord| r.ended.map_or(0.0, |e| (e - r.started).max(0) as f64);
    chart(page, "Findings", &runs, &findings, &|v| format!("{v:.0}"));
    chart(page, "Bytes hashed", &runs, &hashed, &|v| bytes(v as u64));
    chart(page, "Duration", &runs, &duration, &|v| format!("{v:.0} s"));
    page.push_str("</div>\n</section>\n");
}

/// One inline SVG line chart of `value` over `runs`.
fn chart(
    page: &mut String,
    title: &str,
    runs: &[&RunRecord],
    value: &dyn Fn(&RunRecord) -> f64,
    label: &dyn Fn(f64) -> String,
) {
    let (width, height) = (260.0, 80.0);
    let values: Vec<f64> = runs.iter().map(|r| value(r)).collect();
    let max = values.iter().copied().fold(0.0, f64::max).max(1.0);
    let step = if values.len() > 1 {
        width / (values.len() - 1) as f64
    } else {
        0.0
    };
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * step, height - v / max * height))
        .collect();
    let last = values.last().copied().unwrap_or(0.0);
    let _ = writeln!(
        page,
        "<figure class=\"chart\"><figcaption>{title}: {} now, at most {}</figcaption>\
         <svg viewBox=\"-4 -4 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{title}\">\
         <polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\" points=\"{}\"/></svg></figure>",
        escape(&label(last)),
        escape(&label(max)),
        width + 8.0,
        height + 8.0,
        width + 8.0,
        height + 8.0,
        points.join(" ")
    );
}

const STYLE: &str = "
:root{color-scheme:light dark;--err:#c62828;--warn:#ef6c00;--info:#1565c0;--ok:#2e7d32;--line:#8884}
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1rem 1.5rem}
h1{font-size:1.4rem;margin:.2rem 0}h1 .path{font-family:ui-monospace,monospace;font-weight:400}
h2{font-size:1.15rem;border-bottom:1px solid var(--line);padding-bottom:.2rem;margin-top:2rem}
code,.digest{font-family:ui-monospace,monospace;font-size:12.5px;word-break:break-all}
.status{font-weight:600;padding:.3rem .6rem;border-radius:4px;display:inline-block}
.exit-0{background:#2e7d3222;color:var(--ok)}.exit-1{background:#c6282822;color:var(--err)}
.exit-2{background:#ef6c0022;color:var(--warn)}
.summary{font-size:15px}.note{color:#777;margin:.2rem 0}.incomplete{color:var(--warn);font-weight:600}
nav a{margin-right:1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid var(--line);padding:.3rem .4rem;text-align:left;vertical-align:top}
th[data-sort]{cursor:pointer;user-select:none}th[data-sort]:after{content:' \\2195';opacity:.4}
.sev-error td:first-child{color:var(--err);font-weight:600}
.sev-warning td:first-child{color:var(--warn);font-weight:600}
.sev-info td:first-child{color:var(--info)}
.new{font-size:11px;background:var(--warn);color:#fff;border-radius:3px;padding:0 .3rem}
.via{color:#777}.spec{color:#777;font-size:12.5px}
.controls{display:flex;gap:1rem;align-items:center;flex-wrap:wrap;margin:.6rem 0}
.controls input{min-width:18rem}
.scroll{overflow-x:auto}
.matrix{width:auto}.matrix thead th{vertical-align:bottom}
.matrix th span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;display:inline-block;padding:.2rem 0}
.matrix td.yes,.matrix td.no{min-width:1.6rem}
.matrix td.yes{color:var(--ok);text-align:center}.matrix td.no{background:#8881}
.bars td.bar{width:50%}.bars td.bar span{display:block;height:.9rem;background:var(--info);border-radius:2px}
.charts{display:flex;gap:2rem;flex-wrap:wrap}.chart figcaption{font-size:12.5px;color:#777}
.clean{color:var(--ok);font-weight:600}
footer{margin-top:3rem;color:#777;font-size:12px}
";

const SCRIPT: &str = r#"
(function () {
  var table = document.getElementById('findings-table');
  if (!table) return;
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var controls = document.getElementById('controls');
  var rule = document.getElementById('rule-filter');
  var severity = document.getElementById('severity-filter');
  var text = document.getElementById('text-filter');
  var shown = document.getElementById('shown');
  controls.hidden = false;
  function apply() {
    var r = rule.value, s = severity.value, t = text.value.toLowerCase(), n = 0;
    rows.forEach(function (row) {
      var visible = (!r || row.dataset.rule === r) && (!s || row.dataset.severity === s) &&
        (!t || row.textContent.toLowerCase().indexOf(t) >= 0);
      row.hidden = !visible;
      if (visible) n++;
    });
    shown.textContent = n + ' of ' + rows.length + ' shown';
  }
  [rule, severity].forEach(function (e) { e.addEventListener('change', apply); });
  text.addEventListener('input', apply);
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
    if (!th.dataset.sort) return;
    var ascending = true;
    th.addEventListener('click', function () {
      var key = function (row) {
        return th.dataset.sort === 'severity' ? row.dataset.rank : row.cells[column].textContent;
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      ascending = !ascending;
      rows.forEach(function (row) { table.tBodies[0].appendChild(row); });
    });
  });
  apply();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_store_cannot_become_markup() {
        assert_eq!(
            escape("<script>a&b</script> \"x\" 'y'\u{1b}"),
            "&lt;script&gt;a&amp;b&lt;/script&gt; &quot;x&quot; &#39;y&#39;\\u{1b}"
        );
    }
}
