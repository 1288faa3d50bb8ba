//! A real node_exporter on 127.0.0.1 serving the metrics files of one directory through
//! its textfile collector, and nothing else; stopped by its PID when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::registry::free_port;

/// A server a test started, stopped by its PID when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: SIGTERM to a child this test started, by its PID.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// `program` (Debian's prometheus-node-exporter) serving `textfiles`; its port.
pub fn node_exporter(program: &str, textfiles: &Path) -> (Server, u16) {
    let port = free_port();
    let child = Command::new(program)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .arg("--collector.textfile")
        .arg(format!(
            "--collector.textfile.directory={}",
            textfiles.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Server(child), port)
}
