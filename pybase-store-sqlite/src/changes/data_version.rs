//! The main database's "data version" (`SQLITE_FCNTL_DATA_VERSION`): a
//! counter of the connection's pager that changes whenever the database
//! changes, by this connection's commits or by another connection's
//! (seen when this one next takes a lock). The log's [`super::Numbers`]
//! are valid while it is what it was after the writer's last commit.
//!
//! `PRAGMA data_version` answers much the same (it leaves out the
//! connection's own commits) as a statement: stepping, resetting and
//! returning it to rusqlite's cache cost about 1,400 instructions a
//! write, the file control a few dozen. rusqlite has no safe wrapper for
//! file controls, hence the one `unsafe` call of the store.

use std::ffi::{c_int, c_void};

use rusqlite::{Connection, ffi};

use crate::error::{Error, Result};

/// The data version of `conn`'s main database.
#[allow(unsafe_code)]
pub(crate) fn data_version(conn: &Connection) -> Result<u32> {
    let mut version: u32 = 0;
    // SAFETY: `conn.handle()` is the open connection `conn` owns, used
    // here on the thread that holds `conn` (a `&Connection` is not shared
    // across threads: `Connection` is not `Sync`); a null schema name
    // means the main database (SQLite then skips the lookup by name);
    // SQLITE_FCNTL_DATA_VERSION writes one `u32`
    // through the pointer, which points at `version`, alive for the call.
    let rc: c_int = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            std::ptr::null(),
            ffi::SQLITE_FCNTL_DATA_VERSION,
            (&raw mut version).cast::<c_void>(),
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(version)
    } else {
        Err(Error::corrupt(
            "data version",
            format!("sqlite3_file_control answered {rc}"),
        ))
    }
}
