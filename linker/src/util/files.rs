//! The files a link opens and creates: inputs opened only when they are regular files
//! (without blocking), temporary files beside their targets, renaming a link's outputs
//! into place together, and sharing a range of one file's blocks with another (reflink).
//!
//! Every temporary file is named `<prefix><pid>-XXXXXX` (the owner's process id), holds an
//! `flock` for its owner's lifetime, and is listed in a registry that
//! [`remove_temporaries`] empties (the command calls it on SIGINT, SIGTERM and SIGHUP).
//! [`sweep_stale`] removes those a dead process left (SIGKILL): only when the owner is
//! gone, nobody holds the lock and the file is not fresh.
//!
//! Must not: read from anything but a regular file, remove a file it cannot prove stale,
//! or leave a target half replaced: [`Pending::commit`] puts back what it renamed when a
//! later rename fails.

use crate::util::error::{Error, Result};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Makes `len` bytes of `to` at `to_at` share the blocks of `from` at `from_at`
/// (`FICLONERANGE`: a reflink, on XFS with `reflink=1`, btrfs, bcachefs): no data is
/// copied, and a later write to either file unshares only the blocks it touches. The
/// offsets and `len` must be multiples of the file system's block size. An error means
/// nothing was cloned: the file system cannot (`EOPNOTSUPP`, `EXDEV` across file systems,
/// `EINVAL` for a misaligned range) and the caller copies instead.
pub fn clone_range(from: &File, from_at: u64, to: &File, to_at: u64, len: u64) -> io::Result<()> {
    let range = libc::file_clone_range {
        src_fd: i64::from(from.as_raw_fd()),
        src_offset: from_at,
        src_length: len,
        dest_offset: to_at,
    };
    // SAFETY: the ioctl reads the struct we pass and acts on descriptors we own.
    match unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONERANGE, &range) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// What a file that is not a regular file is, for messages.
pub fn describe_type(file_type: fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

fn not_regular(file_type: fs::FileType) -> io::Error {
    io::Error::other(format!("not a regular file ({})", describe_type(file_type)))
}

/// Opens `path` for reading when it is a regular file. What is not (a FIFO, a device such
/// as `/dev/zero`, a directory) is an error at once, without being opened, and the open
/// never blocks (a FIFO swapped in meanwhile would). `nofollow`: a symbolic link is an
/// error too.
pub fn open_regular(path: &Path, nofollow: bool) -> io::Result<File> {
    // Not even opened when it is something else (opening some devices does something);
    // checked again on the open file, which may not be the one looked at.
    let looked = if nofollow { fs::symlink_metadata(path)? } else { fs::metadata(path)? };
    if !looked.is_file() {
        return Err(not_regular(looked.file_type()));
    }
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if nofollow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = match fs::File::options().read(true).custom_flags(flags).open(path) {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) && nofollow => {
            return Err(io::Error::other("not a regular file (a symbolic link)"))
        }
        other => other?,
    };
    let file_type = file.metadata()?.file_type();
    if !file_type.is_file() {
        return Err(not_regular(file_type));
    }
    Ok(file)
}

/// Checks that `target` can be replaced by renaming a file over it: in a directory that
/// exists, and absent, a regular file or a symbolic link there (which the rename replaces,
/// as ld does). A device (`/dev/null`), FIFO or directory there, or a missing directory,
/// is an error before any work is done.
pub fn check_target(target: &Path) -> Result<()> {
    let dir = directory_of(target);
    if let Err(e) =
        fs::metadata(dir)
            .and_then(|m| if m.is_dir() { Ok(()) } else { Err(io::Error::from_raw_os_error(libc::ENOTDIR)) })
    {
        return Err(Error::new(format!("cannot write {}: {}: {e}", target.display(), dir.display())));
    }
    match fs::symlink_metadata(target) {
        Ok(metadata) if !metadata.is_file() && !metadata.file_type().is_symlink() => Err(Error::new(format!(
            "cannot write {}: {}; chainlink writes a new file beside it and renames it into place",
            target.display(),
            not_regular(metadata.file_type())
        ))),
        _ => Ok(()),
    }
}

/// The directory `target` is in ("." for a bare name).
pub fn directory_of(target: &Path) -> &Path {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The paths of this process's live temporary files.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes every temporary file this process has open (its outputs in progress, cache
/// entries being written). For a process about to die (the command's signal handling):
/// from then on, no temporary file can be created or renamed into place, so nothing of
/// what it was writing is left behind and no output changes.
pub fn remove_temporaries() {
    let mut live = live();
    for path in live.drain(..) {
        let _ = fs::remove_file(path);
    }
    // Held until the process ends: creating and persisting a temporary wait for it.
    std::mem::forget(live);
}

/// The prefix of the temporary files written beside a link's outputs.
pub const OUTPUT_PREFIX: &str = ".chainlink-";

/// A temporary file: removed when dropped (or on a signal, see [`remove_temporaries`])
/// unless persisted.
pub struct Temporary {
    /// Always `Some` but while being persisted.
    file: Option<tempfile::NamedTempFile>,
}

impl Temporary {
    /// A new temporary file beside `target` (so that renaming it there is atomic) created
    /// with `mode` less the umask, as any file the user creates.
    pub fn beside(target: &Path, mode: u32) -> Result<Temporary> {
        let dir = directory_of(target);
        Temporary::create_in(dir, OUTPUT_PREFIX, mode)
            .map_err(|e| Error::new(format!("cannot create a temporary file in {}: {e}", dir.display())))
    }

    /// A new temporary file `<prefix><pid>-XXXXXX` in `dir`, created with `mode` less the umask.
    pub fn create_in(dir: &Path, prefix: &str, mode: u32) -> io::Result<Temporary> {
        use std::os::unix::fs::PermissionsExt;
        let prefix = format!("{prefix}{}-", std::process::id());
        // Registered while the registry is held: a signal's cleanup cannot miss it.
        let mut live = live();
        let file =
            tempfile::Builder::new().prefix(&prefix).permissions(fs::Permissions::from_mode(mode)).tempfile_in(dir)?;
        // Held until this process is gone: how `sweep_stale` tells a live file from a leftover.
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(file.as_file().as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        live.push(file.path().to_path_buf());
        Ok(Temporary { file: Some(file) })
    }

    /// A new hard link `<prefix><pid>-XXXXXX` in `dir` to the file at `source`.
    pub fn link_in(dir: &Path, prefix: &str, source: &Path) -> io::Result<Temporary> {
        let prefix = format!("{prefix}{}-", std::process::id());
        let mut live = live();
        let file = tempfile::Builder::new().prefix(&prefix).make_in(dir, |path| {
            fs::hard_link(source, path)?;
            File::open(path)
        })?;
        live.push(file.path().to_path_buf());
        Ok(Temporary { file: Some(file) })
    }

    fn inner(&self) -> &tempfile::NamedTempFile {
        self.file.as_ref().expect("a temporary file is only taken by persist")
    }

    pub fn path(&self) -> &Path {
        self.inner().path()
    }

    pub fn as_file(&self) -> &File {
        self.inner().as_file()
    }

    pub fn as_file_mut(&mut self) -> &mut File {
        self.file.as_mut().expect("a temporary file is only taken by persist").as_file_mut()
    }

    /// Puts the file in `target`'s place (on failure, the file is removed); see
    /// [`Temporary::replace`].
    pub fn persist(self, target: &Path) -> io::Result<()> {
        self.replace(target).map(drop)
    }

    /// Puts the file in `target`'s place (on failure, the file is removed). When `target`
    /// is a file, the two are exchanged (atomically: `target` always holds one or the
    /// other) and what it held comes back open, its name already removed: the file system
    /// frees its blocks only when that is closed, which the caller can do after it has
    /// reported (freeing 200 MB takes ext4 mounted with `discard` about 0.16 s). An
    /// exchange also keeps ext4 from starting to write this file back first, as it does on
    /// a rename over an existing file (`auto_da_alloc`). Elsewhere, a plain rename.
    pub fn replace(mut self, target: &Path) -> io::Result<Option<File>> {
        let file = self.file.take().expect("a temporary file is persisted once");
        let path = file.path().to_path_buf();
        let mut live = live();
        let is_file = fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_file());
        let result = match is_file.then(|| exchange(&path, target)) {
            Some(Ok(())) => {
                // `path` names the target's old contents now: keep them open, drop the name.
                let old = File::open(&path).ok();
                drop(file);
                Ok(old)
            }
            _ => file.persist(target).map(|_| None).map_err(|e| e.error),
        };
        live.retain(|p| *p != path);
        result
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let mut live = live();
            live.retain(|p| p != file.path());
            drop(file);
        }
    }
}

/// Exchanges the files `a` and `b` name (`renameat2` with `RENAME_EXCHANGE`); an error when
/// either does not exist or the file system cannot.
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |path: &Path| std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are NUL-terminated paths that outlive the call.
    let result =
        unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A hard link to what a target held before it was replaced, kept until the other
/// renames of a commit succeed.
struct Backup(Option<tempfile::NamedTempFile<()>>);

impl Backup {
    /// A hard link to what `target` holds now, beside it; `None` when no hard link can be
    /// made (the rename then has no way back).
    fn of(target: &Path) -> Option<Backup> {
        let prefix = format!("{OUTPUT_PREFIX}{}-", std::process::id());
        let mut live = live();
        let backup = tempfile::Builder::new()
            .prefix(&prefix)
            .make_in(directory_of(target), |path| fs::hard_link(target, path))
            .ok()?;
        live.push(backup.path().to_path_buf());
        Some(Backup(Some(backup)))
    }

    /// Puts what the target held back in place.
    fn restore(mut self, target: &Path) {
        if let Some(backup) = self.0.take() {
            let path = backup.path().to_path_buf();
            let mut live = live();
            let _ = backup.persist(target);
            live.retain(|p| *p != path);
        }
    }
}

impl Drop for Backup {
    fn drop(&mut self) {
        if let Some(backup) = self.0.take() {
            let mut live = live();
            live.retain(|p| p != backup.path());
            drop(backup);
        }
    }
}

/// How old a temporary file must be before [`sweep_stale`] may take it for a leftover:
/// covers the moment between creating a file and locking it.
const STALE_AFTER: Duration = Duration::from_secs(2);

/// Removes the temporary files `<prefix><pid>-XXXXXX` in `dir` that a process which no
/// longer exists left behind (killed with SIGKILL, say): the process named in the file's
/// name is gone, no one holds the file's lock, and it was not written in the last
/// seconds. Files of live processes (a concurrent link's) are never touched. Returns how
/// many files and bytes it removed.
pub fn sweep_stale(dir: &Path, prefix: &str) -> (usize, u64) {
    let mut removed = (0, 0);
    let Ok(listing) = fs::read_dir(dir) else { return removed };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(owner_pid) else { continue };
        let path = entry.path();
        if pid == std::process::id() || process_exists(pid) {
            continue;
        }
        let Ok(metadata) = fs::symlink_metadata(&path) else { continue };
        let fresh =
            metadata.modified().is_ok_and(|t| SystemTime::now().duration_since(t).is_ok_and(|a| a < STALE_AFTER));
        if !metadata.is_file() || fresh {
            continue;
        }
        let Ok(file) = open_regular(&path, true) else { continue };
        // SAFETY: flock on a descriptor we own.
        let unlocked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        let same = file.metadata().is_ok_and(|m| (m.dev(), m.ino()) == (metadata.dev(), metadata.ino()));
        if unlocked && same && fs::remove_file(&path).is_ok() {
            removed = (removed.0 + 1, removed.1 + metadata.len());
        }
    }
    removed
}

/// [`sweep_stale`] of the output temporaries in the directories of `targets`.
pub fn sweep_beside(targets: &[Option<&PathBuf>]) {
    let mut dirs: Vec<&Path> = targets.iter().flatten().map(|target| directory_of(target)).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        sweep_stale(dir, OUTPUT_PREFIX);
    }
}

/// The process id in a temporary file's name (after its prefix): `<pid>-XXXXXX`.
fn owner_pid(rest: &str) -> Option<u32> {
    let (pid, random) = rest.split_once('-')?;
    (!random.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then(|| pid.parse().ok())?
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH) }
}

/// The files a link wrote beside their targets, renamed into place together once every
/// one of them is complete (and everything that could fail has succeeded).
#[derive(Default)]
pub struct Pending {
    files: Vec<(Temporary, PathBuf)>,
}

impl Pending {
    pub fn add(&mut self, temporary: Temporary, target: &Path) {
        self.files.push((temporary, target.to_path_buf()));
    }

    /// Adds `other`'s files after these, leaving it empty.
    pub fn append(&mut self, other: &mut Pending) {
        self.files.append(&mut other.files);
    }

    /// The temporary file that will become `target`.
    pub fn file_for(&self, target: &Path) -> Option<&Temporary> {
        self.files.iter().find(|(_, t)| t == target).map(|(temporary, _)| temporary)
    }

    /// Renames every file over its target, in order. If a rename fails, the targets
    /// renamed before it get back what they held (kept meanwhile as hard links beside
    /// them), so that a failed link changes none of them. Returns what the targets held,
    /// open and nameless (see [`Temporary::replace`]): the caller closes them when it
    /// likes.
    pub fn commit(self) -> Result<Vec<File>> {
        let count = self.files.len();
        let mut replaced = Vec::new();
        // What each target renamed so far held: nothing (`None`), or a backup.
        let mut done: Vec<(PathBuf, Option<Option<Backup>>)> = Vec::new();
        for (index, (temporary, target)) in self.files.into_iter().enumerate() {
            // The last rename needs no way back.
            let before = match fs::symlink_metadata(&target) {
                _ if index + 1 == count => Some(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                _ => Some(Backup::of(&target)),
            };
            let old = temporary.replace(&target);
            if let Err(e) = old {
                for (target, before) in done.into_iter().rev() {
                    match before {
                        None => {
                            let _ = fs::remove_file(&target);
                        }
                        Some(Some(backup)) => backup.restore(&target),
                        // Not kept (no hard link could be made): the new file stays.
                        Some(None) => {}
                    }
                }
                return Err(Error::new(format!("cannot write {}: {e}", target.display())));
            }
            replaced.extend(old.ok().flatten());
            done.push((target, before));
        }
        Ok(replaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    fn temporary_holding(target: &Path, bytes: &[u8]) -> Temporary {
        let mut temporary = Temporary::beside(target, 0o644).unwrap();
        temporary.as_file_mut().write_all(bytes).unwrap();
        temporary
    }

    /// Over an existing file, `replace` puts the new file in its place and hands back the
    /// old one open, with no name left; over nothing (or a directory) it is a rename.
    #[test]
    fn replace_hands_back_what_the_target_held_open_and_nameless() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.so");
        assert!(temporary_holding(&target, b"first").replace(&target).unwrap().is_none());
        assert_eq!(fs::read(&target).unwrap(), b"first");

        let mut old = temporary_holding(&target, b"second").replace(&target).unwrap().expect("the old file");
        assert_eq!(fs::read(&target).unwrap(), b"second");
        assert_eq!(names(dir.path()), ["out.so"], "no other name is left");
        let mut held = Vec::new();
        old.read_to_end(&mut held).unwrap();
        assert_eq!(held, b"first");
        assert_eq!(old.metadata().unwrap().nlink(), 0);

        let directory = dir.path().join("a directory");
        fs::create_dir(&directory).unwrap();
        assert!(temporary_holding(&directory, b"x").replace(&directory).is_err());
        assert!(directory.is_dir());
        assert_eq!(names(dir.path()), ["a directory", "out.so"]);
    }
}
