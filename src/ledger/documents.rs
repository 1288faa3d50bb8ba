//! Documents kept for a store whose documents cost a request each (a registry over HTTP):
//! the bytes of every index, manifest and config a run fetched and hashed clean, so that
//! the next run resolves an unchanged tag with one HEAD and makes no GET of a manifest
//! (Docker Hub meters those). A document is content-addressed: bytes that hashed to its
//! digest are its content, whoever serves it. Each is fetched again once it was hashed
//! longer ago than `--reverify-after`, like any blob on the rolling schedule.

use std::collections::HashMap;

use rusqlite::params;

use super::{Ledger, LedgerError};
use crate::model::digest::Digest;

impl Ledger {
    /// The store's kept documents hashed at or after `since` (seconds since the epoch),
    /// with when.
    pub fn documents(&self, since: i64) -> Result<HashMap<Digest, (Vec<u8>, i64)>, LedgerError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT digest, body, hashed_at FROM document WHERE store = ?1 AND hashed_at >= ?2",
            )
            .map_err(|e| self.db(e))?;
        let mut rows = statement
            .query(params![self.store, since])
            .map_err(|e| self.db(e))?;
        let mut out = HashMap::new();
        while let Some(row) = rows.next().map_err(|e| self.db(e))? {
            let digest: String = row.get(0).map_err(|e| self.db(e))?;
            let body: Vec<u8> = row.get(1).map_err(|e| self.db(e))?;
            let hashed_at: i64 = row.get(2).map_err(|e| self.db(e))?;
            // A row this tool did not write is not trusted.
            if let Ok(digest) = Digest::parse(&digest) {
                out.insert(digest, (body, hashed_at));
            }
        }
        Ok(out)
    }

    /// Keeps exactly `used`: each document with its bytes and when they were hashed; the
    /// store's other documents (of images gone, or due again) are dropped.
    pub fn keep_documents(&self, used: &[(Digest, Vec<u8>, i64)]) -> Result<(), LedgerError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.db(e))?;
        tx.execute("DELETE FROM document WHERE store = ?1", [self.store])
            .map_err(|e| self.db(e))?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO document (store, digest, body, hashed_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| self.db(e))?;
            for (digest, body, hashed_at) in used {
                insert
                    .execute(params![self.store, digest.to_string(), body, hashed_at])
                    .map_err(|e| self.db(e))?;
            }
        }
        tx.commit().map_err(|e| self.db(e))
    }
}
