//! The hash-chained audit log: every CA and staff action is appended inside the
//! transaction that performs it, and `ca audit verify` recomputes the chain.
//!
//! `hash = SHA-256(prev_hash ‖ seq ‖ at ‖ actor ‖ action ‖ subject ‖ details)` with
//! integers big-endian and strings length-prefixed, so no two field splits hash alike.
//! `audit_head` holds the last sequence number and hash: a modified row breaks its
//! own hash, an inserted or deleted row breaks the chain or the sequence, and a
//! deleted tail no longer matches the head.

use ring::digest::{Context, SHA256};

use crate::db::{Database, Tx};
use crate::store::audit::StoredEntry;
use crate::{Error, Result, store};

pub use crate::store::audit::Entry;

fn entry_hash(prev: &[u8], e: &Entry) -> Vec<u8> {
    let mut ctx = Context::new(&SHA256);
    ctx.update(prev);
    ctx.update(&e.seq.to_be_bytes());
    ctx.update(&e.at.to_be_bytes());
    for s in [&e.actor, &e.action, &e.subject, &e.details] {
        ctx.update(&(s.len() as u64).to_be_bytes());
        ctx.update(s.as_bytes());
    }
    ctx.finish().as_ref().to_vec()
}

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    /// Who.
    pub actor: &'a str,
    /// What.
    pub action: &'a str,
    /// To what.
    pub subject: String,
    /// JSON details.
    pub details: String,
}

/// Appends one entry inside `tx`; returns its sequence number.
pub async fn append(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    subject: &str,
    details: &serde_json::Value,
) -> Result<i64> {
    append_many(
        tx,
        &[NewEntry {
            actor,
            action,
            subject: subject.to_string(),
            details: details.to_string(),
        }],
    )
    .await
}

/// Appends entries inside `tx` in three statements whatever their number; returns
/// the sequence number of the first. The head row is updated first, which takes the
/// write lock (SQLite) or the row lock (PostgreSQL), so appends are serialised.
pub async fn append_many(tx: &mut Tx, entries: &[NewEntry<'_>]) -> Result<i64> {
    if entries.is_empty() {
        return Ok(0);
    }
    let n = entries.len() as i64;
    let (last, mut prev) = store::audit::advance_head(tx, n).await?;
    let first = last - n + 1;
    let at = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut rows = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let entry = Entry {
            seq: first + i as i64,
            at,
            actor: e.actor.to_string(),
            action: e.action.to_string(),
            subject: e.subject.clone(),
            details: e.details.clone(),
        };
        let hash = entry_hash(&prev, &entry);
        rows.push(StoredEntry {
            entry,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
    }
    store::audit::insert_entries(tx, &rows).await?;
    store::audit::set_head_hash(tx, &prev).await?;
    Ok(first)
}

/// Recomputes the whole chain; returns the number of entries, or the first break.
/// The entries and the head are read in one snapshot ([`Database::snapshot`]), so
/// appends committed meanwhile by a running server are either all seen or not at all.
pub async fn verify(db: &Database) -> Result<i64> {
    let mut tx = db.snapshot().await?;
    let rows = store::audit::all_entries(&mut tx).await?;
    let (head_seq, head_hash) = store::audit::head(&mut tx).await?;
    tx.rollback().await?;
    let mut prev = vec![0u8; 32];
    let mut expected_seq = 1i64;
    for row in rows {
        let StoredEntry {
            entry: e,
            prev_hash: stored_prev,
            hash: stored_hash,
        } = row;
        let broken = |reason: &str| Error::AuditChain {
            seq: e.seq,
            reason: reason.to_string(),
        };
        if e.seq != expected_seq {
            return Err(Error::AuditChain {
                seq: expected_seq,
                reason: format!("entry missing (next stored entry is {})", e.seq),
            });
        }
        if stored_prev != prev {
            return Err(broken("does not chain to the entry before it"));
        }
        if entry_hash(&prev, &e) != stored_hash {
            return Err(broken("contents were modified after it was written"));
        }
        prev = stored_hash;
        expected_seq += 1;
    }
    if head_seq != expected_seq - 1 || head_hash != prev {
        return Err(Error::AuditChain {
            seq: head_seq,
            reason: format!(
                "the log ends at entry {} but the head records entry {head_seq}",
                expected_seq - 1
            ),
        });
    }
    Ok(expected_seq - 1)
}

/// The hash of audit entry `seq`, if the chain has it (what an audit anchor in the
/// transparency log names).
pub async fn hash_at(tx: &mut Tx, seq: i64) -> Result<Option<Vec<u8>>> {
    store::audit::hash_at(tx, seq).await
}

/// The chain's head: how many entries, and the last one's hash (for an audit anchor).
pub async fn head(db: &Database) -> Result<(i64, Vec<u8>)> {
    let mut tx = db.snapshot().await?;
    let head = store::audit::head(&mut tx).await?;
    tx.rollback().await?;
    Ok(head)
}

/// The most recent entries (at most `limit`) whose subject is one of `subjects`,
/// newest first: what concerns one site (its id and its certificates' serials).
pub async fn about(db: &Database, subjects: &[String], limit: i64) -> Result<Vec<Entry>> {
    store::audit::about(db, subjects, limit).await
}

/// The most recent entries, newest first.
pub async fn recent(db: &Database, limit: i64) -> Result<Vec<Entry>> {
    store::audit::recent(db, limit).await
}
