//! A VFS that writes each WAL frame with one system call instead of two.
//!
//! SQLite writes a WAL frame as its 24-byte header and then its page, at
//! the next offset, each with a `pwrite` of its own (`walWriteOneFrame`);
//! no option joins them. On Linux the second call costs about as much as
//! the copy of the page (benches/ANALYSIS.md, "a WAL frame is two system
//! calls"), and every write transaction pays it once a page it changed.
//!
//! This VFS is the platform's default one (`unix`) with one difference: a
//! write of exactly one frame header to a WAL file is held back, and
//! written together with the write that follows it when that one starts
//! where the header ends (the frame's page), as one `pwrite` of both. Any
//! other call on the file first writes what is held, so the file reads,
//! syncs, sizes and truncates exactly as if nothing had been held. Other
//! connections never read a frame while it is being written: a reader
//! reads only frames of committed transactions, published in the WAL
//! index after every write of the commit is done. A crash while a header
//! is held loses that frame, as a crash between the two writes would:
//! recovery stops at the first frame whose checksum does not match.
//!
//! Only WAL files are wrapped; the database file and every other file
//! keep the default VFS's methods untouched. The file structure is the
//! default VFS's own, with this module's fields after it, so every call
//! this module does not change reaches the default VFS with the pointer
//! it expects.

use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;

/// The VFS's registered name.
const NAME: &CStr = c"pybase-unix-wal";

/// How many header and page writes were joined (for tests).
static JOINED: AtomicU64 = AtomicU64::new(0);

/// The size of a WAL frame header (`WAL_FRAME_HDRSIZE` in `wal.c`).
const FRAME_HEADER: usize = 24;

/// The name of the VFS to open file databases with: `None` if it could
/// not be registered (no `unix` VFS, as on Windows), when the default one
/// serves.
pub(crate) fn name() -> Option<&'static str> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        // SAFETY: registration happens once, with a VFS that lives for
        // the rest of the process (leaked) and copies the default unix
        // VFS, which SQLite never frees either.
        unsafe { register() }
    });
    ok.then(|| NAME.to_str().unwrap_or("pybase-unix-wal"))
}

/// What this VFS keeps of the default one.
struct Parent {
    vfs: *mut ffi::sqlite3_vfs,
    /// Where this module's fields start in a file structure.
    extra_at: usize,
}

// SAFETY: the parent VFS is a static structure of SQLite's, used by every
// thread through its own thread-safe functions.
unsafe impl Send for Parent {}
unsafe impl Sync for Parent {}

static PARENT: OnceLock<Parent> = OnceLock::new();

/// This module's fields of a WAL file, after the default VFS's structure.
#[repr(C)]
struct Extra {
    /// The default VFS's methods for the file.
    methods: *const ffi::sqlite3_io_methods,
    /// How many header bytes are held (0 or [`FRAME_HEADER`]).
    held_len: usize,
    /// Where they go.
    held_at: i64,
    /// The header held.
    held: [u8; FRAME_HEADER],
    /// The buffer a header and its page are joined in (owned; null until
    /// first used).
    joined: *mut Vec<u8>,
}

/// Registers the VFS, `false` if there is no `unix` VFS to wrap.
unsafe fn register() -> bool {
    // SAFETY: sqlite3_vfs_find is thread-safe and returns a static VFS.
    let parent = unsafe { ffi::sqlite3_vfs_find(c"unix".as_ptr()) };
    if parent.is_null() {
        return false;
    }
    // SAFETY: `parent` is a valid VFS for the process's life.
    let parent_ref = unsafe { &*parent };
    let Ok(base_size) = usize::try_from(parent_ref.szOsFile) else {
        return false;
    };
    let align = std::mem::align_of::<Extra>();
    let extra_at = base_size.div_ceil(align) * align;
    let Ok(size) = c_int::try_from(extra_at + std::mem::size_of::<Extra>()) else {
        return false;
    };
    if PARENT
        .set(Parent {
            vfs: parent,
            extra_at,
        })
        .is_err()
    {
        return false;
    }
    // Every method but `xOpen` is the parent's, with its `pAppData`: the
    // unix VFS's methods read nothing else of the structure they are
    // called with than what is copied here.
    let mut vfs = *parent_ref;
    vfs.szOsFile = size;
    vfs.zName = NAME.as_ptr();
    vfs.pNext = std::ptr::null_mut();
    vfs.xOpen = Some(open);
    let vfs = Box::leak(Box::new(vfs));
    // SAFETY: `vfs` lives for the rest of the process; 0: not the default.
    unsafe { ffi::sqlite3_vfs_register(vfs, 0) == ffi::SQLITE_OK }
}

/// The methods of a wrapped WAL file.
static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

/// This module's fields of `file` (a file this VFS opened).
unsafe fn extra(file: *mut ffi::sqlite3_file) -> *mut Extra {
    let at = PARENT.get().map_or(0, |p| p.extra_at);
    // SAFETY: the structure SQLite allocated is `szOsFile` bytes, of which
    // `Extra` is the end.
    unsafe { file.cast::<u8>().add(at).cast::<Extra>() }
}

/// The default VFS's methods of `file`.
unsafe fn methods<'a>(file: *mut ffi::sqlite3_file) -> &'a ffi::sqlite3_io_methods {
    // SAFETY: set by `open` before SQLite can call any method.
    unsafe { &*(*extra(file)).methods }
}

/// `xOpen`: the default VFS's, then WAL files get [`WAL_METHODS`] (their
/// own methods kept in [`Extra`]).
unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(parent) = PARENT.get() else {
        return ffi::SQLITE_ERROR;
    };
    // SAFETY: the parent's `xOpen` with its own VFS and a structure of at
    // least its `szOsFile` bytes.
    let rc = unsafe {
        match (*parent.vfs).xOpen {
            Some(parent_open) => parent_open(parent.vfs, name, file, flags, out_flags),
            None => ffi::SQLITE_ERROR,
        }
    };
    if rc != ffi::SQLITE_OK || flags & ffi::SQLITE_OPEN_WAL == 0 {
        return rc;
    }
    // SAFETY: opened: its methods are set; the fields after it are ours.
    unsafe {
        let inner = (*file).pMethods;
        if inner.is_null() || (*inner).iVersion < 3 {
            return rc;
        }
        extra(file).write(Extra {
            methods: inner,
            held_len: 0,
            held_at: 0,
            held: [0; FRAME_HEADER],
            joined: std::ptr::null_mut(),
        });
        (*file).pMethods = &WAL_METHODS;
    }
    rc
}

/// Writes the header held, if any.
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is a wrapped WAL file.
    unsafe {
        let e = &mut *extra(file);
        if e.held_len == 0 {
            return ffi::SQLITE_OK;
        }
        let len = e.held_len;
        e.held_len = 0;
        match methods(file).xWrite {
            Some(w) => w(file, e.held.as_ptr().cast(), len as c_int, e.held_at),
            None => ffi::SQLITE_IOERR_WRITE,
        }
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: `file` is a wrapped WAL file; `data` holds `amount` bytes.
    unsafe {
        let Some(parent_write) = methods(file).xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let e = &mut *extra(file);
        let Ok(len) = usize::try_from(amount) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        if e.held_len > 0 && offset == e.held_at + e.held_len as i64 {
            // The frame's page after its header: one write of both.
            if e.joined.is_null() {
                e.joined = Box::into_raw(Box::new(Vec::new()));
            }
            let joined = &mut *e.joined;
            joined.clear();
            joined.extend_from_slice(&e.held[..e.held_len]);
            joined.extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), len));
            let at = e.held_at;
            e.held_len = 0;
            let Ok(total) = c_int::try_from(joined.len()) else {
                return ffi::SQLITE_IOERR_WRITE;
            };
            JOINED.fetch_add(1, Ordering::Relaxed);
            return parent_write(file, joined.as_ptr().cast(), total, at);
        }
        let rc = flush(file);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if len == FRAME_HEADER {
            let e = &mut *extra(file);
            e.held
                .copy_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), len));
            e.held_at = offset;
            e.held_len = len;
            return ffi::SQLITE_OK;
        }
        parent_write(file, data, amount, offset)
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is a wrapped WAL file, closed once.
    unsafe {
        let flushed = flush(file);
        let e = &mut *extra(file);
        if !e.joined.is_null() {
            drop(Box::from_raw(e.joined));
            e.joined = std::ptr::null_mut();
        }
        let rc = match methods(file).xClose {
            Some(c) => c(file),
            None => ffi::SQLITE_OK,
        };
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            rc
        }
    }
}

/// Defines a method that writes what is held, then calls the default
/// VFS's method of the same name (or answers `$missing` if it has none).
macro_rules! after_flush {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: `file` is a wrapped WAL file; the arguments are
            // SQLite's, passed on as they came.
            unsafe {
                let rc = flush(file);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                match methods(file).$field {
                    Some(f) => f(file $(, $arg)*),
                    None => $missing,
                }
            }
        }
    };
}

after_flush!(read, xRead, (data: *mut c_void, amount: c_int, offset: i64), ffi::SQLITE_IOERR_READ);
after_flush!(truncate, xTruncate, (size: i64), ffi::SQLITE_IOERR_TRUNCATE);
after_flush!(sync, xSync, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
after_flush!(file_size, xFileSize, (size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
after_flush!(lock, xLock, (level: c_int), ffi::SQLITE_OK);
after_flush!(unlock, xUnlock, (level: c_int), ffi::SQLITE_OK);
after_flush!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int), ffi::SQLITE_OK);
after_flush!(file_control, xFileControl, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
after_flush!(shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void), ffi::SQLITE_IOERR_SHMMAP);
after_flush!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int), ffi::SQLITE_IOERR_SHMLOCK);
after_flush!(shm_unmap, xShmUnmap, (delete: c_int), ffi::SQLITE_OK);
after_flush!(fetch, xFetch, (offset: i64, amount: c_int, out: *mut *mut c_void), ffi::SQLITE_OK);
after_flush!(unfetch, xUnfetch, (offset: i64, page: *mut c_void), ffi::SQLITE_OK);

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is a wrapped WAL file.
    unsafe { methods(file).xSectorSize.map_or(4096, |f| f(file)) }
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is a wrapped WAL file.
    unsafe { methods(file).xDeviceCharacteristics.map_or(0, |f| f(file)) }
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: `file` is a wrapped WAL file.
    unsafe {
        flush(file);
        if let Some(f) = methods(file).xShmBarrier {
            f(file);
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, OpenFlags};

    /// A database written through the VFS reads back whole after it is
    /// closed without a checkpoint and opened again with the default VFS
    /// (which recovers the WAL from its frames): every frame the VFS
    /// joined is where SQLite put it.
    #[test]
    fn a_wal_written_through_it_recovers_with_the_default_vfs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let name = super::name().expect("the unix VFS is there");
        let joined_before = super::JOINED.load(std::sync::atomic::Ordering::Relaxed);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        {
            let conn = Connection::open_with_flags_and_vfs(&path, flags, name).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
            conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
                .unwrap();
            for i in 0..500 {
                conn.execute(
                    "INSERT INTO t (k, v) VALUES (?1, ?2)",
                    (i, "x".repeat(i as usize % 700)),
                )
                .unwrap();
            }
            // A reader on another connection sees every commit.
            let reader = Connection::open_with_flags_and_vfs(&path, flags, name).unwrap();
            let n: i64 = reader
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 500);
            let joined = super::JOINED.load(std::sync::atomic::Ordering::Relaxed) - joined_before;
            assert!(joined >= 500, "each commit's frames joined, {joined}");
            // Leave the WAL behind: copy it before the close checkpoints.
            std::fs::copy(
                dir.path().join("db.sqlite-wal"),
                dir.path().join("kept-wal"),
            )
            .unwrap();
            std::fs::copy(&path, dir.path().join("kept.sqlite")).unwrap();
        }
        let kept = dir.path().join("kept.sqlite");
        std::fs::rename(
            dir.path().join("kept-wal"),
            dir.path().join("kept.sqlite-wal"),
        )
        .unwrap();
        let conn = Connection::open(&kept).unwrap();
        let (n, len): (i64, i64) = conn
            .query_row("SELECT count(*), sum(length(v)) FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(n, 500, "every committed row recovered from the WAL");
        assert_eq!(len, (0..500).map(|i| i % 700).sum::<i64>());
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}
