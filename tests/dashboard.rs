//! The Grafana dashboard (`deploy/grafana/oci-audit.json`, issue 32) against a real
//! Prometheus (Debian's `prometheus`) scraping a real node_exporter whose textfile
//! collector serves the metrics files of two stores, each audited twice with a ledger
//! (so new and resolved findings exist): every panel's query returns data, and no query
//! names a metric the tool does not write. Both servers bind 127.0.0.1 and are stopped by
//! their PIDs.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::exporter::{Server, node_exporter};
use crate::support::registry::{free_port, program};
use crate::support::{repo, run};

/// GET `path` from 127.0.0.1:`port`; the body, or `None` if nothing answered.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer.split_once("\r\n\r\n")?.1.to_owned())
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The result vector of an instant query.
fn query(port: u16, expr: &str) -> Vec<Value> {
    let body = get(port, &format!("/api/v1/query?query={}", encode(expr))).unwrap_or_default();
    let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_eq!(answer["status"], "success", "{expr}: {body}");
    answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Every `oci_audit_…` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("oci_audit_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

#[test]
fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let (Some(prometheus), Some(exporter)) =
        (program("prometheus"), program("prometheus-node-exporter"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let textfiles = dir.path().join("textfile");
    fs::create_dir(&textfiles).unwrap();
    // A registry root (reclaimable bytes, findings by rule) and a layout with an error.
    let stores = [
        (
            "registry",
            repo().join("corpus/distribution/registry-2.8/store"),
        ),
        (
            "layout",
            repo().join("corpus/layout/blob-digest-mismatch/store"),
        ),
    ];
    for (name, store) in &stores {
        let ledger = dir.path().join(format!("{name}.db"));
        let metrics = textfiles.join(format!("{name}.prom"));
        for _ in 0..2 {
            let out = run(&[
                "-q",
                "--state",
                ledger.to_str().unwrap(),
                "--metrics-file",
                metrics.to_str().unwrap(),
                store.to_str().unwrap(),
            ]);
            assert!(out.code < 2, "{name}: {}", out.stderr);
        }
    }
    let written: BTreeSet<String> = stores
        .iter()
        .flat_map(|(name, _)| {
            metric_names(&fs::read_to_string(textfiles.join(format!("{name}.prom"))).unwrap())
        })
        .collect();

    let (_exporter, exporter_port) = node_exporter(&exporter, &textfiles);
    let prometheus_port = free_port();
    fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n"
        ),
    )
    .unwrap();
    let _prometheus = Server(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Until both stores have been scraped.
    let started = Instant::now();
    loop {
        let ready = get(prometheus_port, "/api/v1/query?query=oci_audit_run_success")
            .and_then(|body| serde_json::from_str::<Value>(&body).ok())
            .and_then(|v| v["data"]["result"].as_array().map(Vec::len))
            == Some(2);
        if ready {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "prometheus did not scrape the node_exporter"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let dashboard: Value = serde_json::from_str(
        &fs::read_to_string(repo().join("deploy/grafana/oci-audit.json")).unwrap(),
    )
    .unwrap();
    // The store variable lists both stores.
    let variable = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "store")
        .unwrap();
    assert_eq!(
        variable["definition"],
        "label_values(oci_audit_run_success, store)"
    );
    let values = get(
        prometheus_port,
        "/api/v1/label/store/values?match[]=oci_audit_run_success",
    )
    .unwrap();
    let values: Value = serde_json::from_str(&values).unwrap();
    assert_eq!(values["data"].as_array().unwrap().len(), 2, "{values}");

    let mut queried = 0;
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            used.extend(metric_names(expr));
            // Grafana puts the selected stores' regex in $store; "All" matches every one.
            let result = query(prometheus_port, &expr.replace("$store", ".*"));
            assert!(
                !result.is_empty(),
                "panel {:?}: {expr} returns no data",
                panel["title"]
            );
            queried += 1;
        }
    }
    assert!(queried >= 15, "{queried} queries");
    let unknown: Vec<&String> = used.difference(&written).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics the tool does not write: {unknown:?}"
    );
    // Every metric the tool writes is on the dashboard.
    let unshown: Vec<&String> = written.difference(&used).collect();
    assert!(unshown.is_empty(), "metrics no panel shows: {unshown:?}");
}
