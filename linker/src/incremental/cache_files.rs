//! The cache's files on disk: its directories, opened so that nothing inside the cache can
//! lead out of it; which names are the cache's own; and the checksum ("seal") that every
//! small record carries, so that a damaged record is noticed rather than believed.
//!
//! Each directory below the cache's root is opened with `O_NOFOLLOW` relative to its
//! parent, and every path inside it is spelt `/proc/self/fd/<fd>/<name>`, which the kernel
//! resolves through the open directory: a `v1/outputs` that is a symbolic link (or is
//! swapped for one later) is refused, never followed. Files are opened with `O_NOFOLLOW`
//! and must be regular files.
//!
//! Must not: follow a symbolic link below the cache's root, read anything but a regular
//! file, or let the cache remove a file whose name it does not give (see [`own_name`]).

use crate::util::files::open_regular;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::io::{AsRawFd as _, FromRawFd as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The layout directory under the cache's root.
pub const LAYOUT_VERSION: &str = "v1";
/// The prefix of the cache's temporary files (see `crate::util::files::Temporary`).
pub const TEMPORARY_PREFIX: &str = ".entry-";

/// The directories in the layout directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sub {
    /// Finished outputs: `<key>.so` and their records `<key>.meta`.
    Outputs,
    /// Prepared bases: `<key>.base` and their use records `<key>.used`.
    Bases,
    /// What is known of files by fingerprint: `<fingerprint>` and `out-<fingerprint>`.
    Fingerprints,
}

impl Sub {
    pub const ALL: [Sub; 3] = [Sub::Outputs, Sub::Bases, Sub::Fingerprints];

    pub fn name(self) -> &'static str {
        match self {
            Sub::Outputs => "outputs",
            Sub::Bases => "bases",
            Sub::Fingerprints => "fingerprints",
        }
    }
}

/// What a file of the cache's own naming is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Own {
    /// An output, a prepared base, or a fingerprint's record.
    Entry,
    /// A record of an entry's last use (or an output's `.meta`): goes with its entry.
    UseRecord,
    /// A temporary file being written (see `crate::util::files::sweep_stale`).
    Temporary,
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `name` in directory `sub` is a file the cache makes, and which kind: only those
/// are ever listed, counted or removed by the cache.
pub fn own_name(sub: Sub, name: &str) -> Option<Own> {
    if name.starts_with(TEMPORARY_PREFIX) {
        return Some(Own::Temporary);
    }
    let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
    match (sub, extension) {
        (Sub::Outputs, "so") | (Sub::Bases, "base" | "digests") if is_hex(stem, 64) => Some(Own::Entry),
        (Sub::Outputs, "meta") | (Sub::Bases, "used") if is_hex(stem, 64) => Some(Own::UseRecord),
        (Sub::Fingerprints, "") if is_hex(name.strip_prefix("out-").unwrap_or(name), 40) => Some(Own::Entry),
        _ => None,
    }
}

/// One directory of the cache, open.
pub struct Dir {
    file: File,
    /// `/proc/self/fd/<fd>`: how paths inside it are spelt.
    path: PathBuf,
    /// Its path as the user knows it, for messages.
    shown: PathBuf,
}

impl Dir {
    fn from_file(file: File, shown: PathBuf) -> Dir {
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        Dir { file, path, shown }
    }

    /// Opens the directory at `path` (the cache's root, as configured: a symbolic link
    /// there is the user's choice and is followed), made first if `create`.
    fn open_root(path: &Path, create: bool) -> io::Result<Dir> {
        if create {
            fs::create_dir_all(path)?;
        }
        let file = File::options().read(true).custom_flags(libc::O_DIRECTORY).open(path)?;
        Ok(Dir::from_file(file, path.to_path_buf()))
    }

    /// Opens the directory `name` in this one without following a symbolic link; made
    /// first (mode 0777 less the umask) if missing and `create`.
    fn open_in(&self, name: &str, create: bool) -> io::Result<Dir> {
        let c_name = std::ffi::CString::new(name).map_err(io::Error::other)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let open = || {
            // SAFETY: openat with our directory descriptor and a NUL-terminated name.
            let fd = unsafe { libc::openat(self.file.as_raw_fd(), c_name.as_ptr(), flags) };
            // SAFETY: a descriptor openat just returned is ours alone.
            if fd >= 0 {
                Ok(unsafe { File::from_raw_fd(fd) })
            } else {
                Err(io::Error::last_os_error())
            }
        };
        let file = match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                // SAFETY: mkdirat with our directory descriptor and a NUL-terminated name.
                if unsafe { libc::mkdirat(self.file.as_raw_fd(), c_name.as_ptr(), 0o777) } != 0 {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::AlreadyExists {
                        return Err(error);
                    }
                }
                open()
            }
            other => other,
        };
        let file = file.map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => io::Error::other(format!(
                "{} is not a directory (and is not followed)",
                self.shown.join(name).display()
            )),
            _ => e,
        })?;
        Ok(Dir::from_file(file, self.shown.join(name)))
    }

    /// The path of `name` in this directory (resolved through the open directory).
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// This directory, resolved through its descriptor.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `name` in this directory is, as the user knows it.
    pub fn shown(&self, name: &str) -> PathBuf {
        self.shown.join(name)
    }

    /// The names in this directory that are the cache's own (`sub` being this directory).
    pub fn own_files(&self, sub: Sub) -> Vec<(String, Own)> {
        let Ok(listing) = fs::read_dir(&self.path) else { return Vec::new() };
        listing
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_str()?.to_string();
                let own = own_name(sub, &name)?;
                Some((name, own))
            })
            .collect()
    }
}

/// The layout directory (`<root>/v1`) and those in it that exist or could be made.
pub struct Dirs {
    v1: Dir,
    subs: [Option<Dir>; 3],
    /// Why a directory is missing from `subs`.
    pub problems: Vec<String>,
}

impl Dirs {
    /// Opens the layout directory under `root` and the directories in it, making what is
    /// missing when `create` (a directory that cannot be made, on a read-only cache say,
    /// is left out). `Ok(None)`: there is no cache there (and `create` is false).
    pub fn open(root: &Path, create: bool) -> io::Result<Option<Dirs>> {
        let opened = Dir::open_root(root, create).and_then(|root| root.open_in(LAYOUT_VERSION, create));
        let v1 = match opened {
            Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(None),
            other => other?,
        };
        let mut problems = Vec::new();
        let mut open =
            |sub: Sub| match v1.open_in(sub.name(), create).or_else(|e| v1.open_in(sub.name(), false).map_err(|_| e)) {
                Ok(dir) => Some(dir),
                Err(e) if e.kind() == io::ErrorKind::NotFound && !create => None,
                Err(e) => {
                    problems.push(format!("{}: {e}", v1.shown(sub.name()).display()));
                    None
                }
            };
        let subs = [open(Sub::Outputs), open(Sub::Bases), open(Sub::Fingerprints)];
        Ok(Some(Dirs { v1, subs, problems }))
    }

    /// The directory `sub`, if it is there.
    pub fn sub(&self, sub: Sub) -> Option<&Dir> {
        self.subs[sub as usize].as_ref()
    }

    /// The layout directory.
    pub fn v1(&self) -> &Dir {
        &self.v1
    }

    /// A path inside the cache as the user knows it (for messages).
    pub fn shown(&self, path: &Path) -> String {
        for dir in self.subs.iter().flatten().chain([&self.v1]) {
            if let Ok(rest) = path.strip_prefix(&dir.path) {
                return dir.shown.join(rest).display().to_string();
            }
        }
        path.display().to_string()
    }
}

/// The checksum line a record ends with.
const SEAL: &str = "check ";

fn checksum(body: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"chainlink cache record\0");
    hasher.update(body.as_bytes());
    hasher.finalize().to_hex().to_string()
}

/// `body` with its checksum as a last line.
pub fn seal(body: &str) -> String {
    let mut text = body.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let line = format!("{SEAL}{}\n", checksum(&text));
    text.push_str(&line);
    text
}

/// What reading a record found.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// No record (or none the cache can use: not a regular file, unreadable).
    Missing,
    /// A record without a seal, from an older chainlink: not used, quietly replaced.
    Unsealed,
    /// A record whose checksum does not match its text: not used, reported.
    Damaged,
    /// The record's text (without its checksum line).
    Intact(String),
}

/// Reads and checks the record at `path`.
pub fn read_record(path: &Path) -> Record {
    let Ok(mut file) = open_regular(path, true) else { return Record::Missing };
    let mut text = String::new();
    if file.read_to_string(&mut text).is_err() {
        return Record::Damaged;
    }
    let Some(without_newline) = text.strip_suffix('\n') else { return Record::Unsealed };
    let body_end = without_newline.rfind('\n').map_or(0, |at| at + 1);
    let Some(sum) = without_newline[body_end..].strip_prefix(SEAL) else { return Record::Unsealed };
    let body = &text[..body_end];
    if checksum(body) != sum {
        return Record::Damaged;
    }
    Record::Intact(body.to_string())
}

/// Writes `bytes` as `name` in `dir`: a temporary file renamed into place (readable by
/// everyone who shares the cache: 0644 less the umask).
pub fn write_atomically(dir: &Dir, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = crate::util::files::Temporary::create_in(dir.path(), TEMPORARY_PREFIX, 0o644)?;
    temporary.as_file_mut().write_all(bytes)?;
    temporary.persist(&dir.join(name))
}

/// Writes the record `name` in `dir` (sealed).
pub fn write_record(dir: &Dir, name: &str, body: &str) -> io::Result<()> {
    write_atomically(dir, name, seal(body).as_bytes())
}

/// Marks a use record (or any file of the cache) as used now; `create` makes it first.
/// Never follows a symbolic link, never blocks.
pub fn touch(path: &Path, create: bool) {
    let mut options = File::options();
    options.append(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).mode(0o644);
    if create {
        options.create(true);
    }
    if let Ok(file) = options.open(path) {
        if file.metadata().is_ok_and(|m| m.is_file()) {
            let _ = file.set_modified(SystemTime::now());
        }
    }
}

/// The metadata of the file at `path` itself (a symbolic link is not followed).
pub fn metadata(path: &Path) -> io::Result<fs::Metadata> {
    fs::symlink_metadata(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names() {
        let key = "a".repeat(64);
        let fingerprint = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(own_name(Sub::Outputs, &format!("{key}.so")), Some(Own::Entry));
        assert_eq!(own_name(Sub::Outputs, &format!("{key}.meta")), Some(Own::UseRecord));
        assert_eq!(own_name(Sub::Bases, &format!("{key}.base")), Some(Own::Entry));
        assert_eq!(own_name(Sub::Bases, &format!("{key}.used")), Some(Own::UseRecord));
        assert_eq!(own_name(Sub::Bases, &format!("{key}.digests")), Some(Own::Entry));
        assert_eq!(own_name(Sub::Outputs, &format!("{key}.digests")), None);
        assert_eq!(own_name(Sub::Fingerprints, fingerprint), Some(Own::Entry));
        assert_eq!(own_name(Sub::Fingerprints, &format!("out-{fingerprint}")), Some(Own::Entry));
        assert_eq!(own_name(Sub::Bases, ".entry-12-abcdef"), Some(Own::Temporary));
        for other in ["photo.jpg", "so", &format!("{key}.base"), &format!("x{fingerprint}"), ".bashrc", &key] {
            assert_eq!(own_name(Sub::Outputs, other), None, "{other}");
        }
        assert_eq!(own_name(Sub::Fingerprints, &format!("{key}.so")), None);
    }

    #[test]
    fn seals_catch_any_change() {
        let body = "0123\n12 34 abcd\n";
        let sealed = seal(body);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record");
        fs::write(&path, &sealed).unwrap();
        assert_eq!(read_record(&path), Record::Intact(body.to_string()));
        for at in 0..sealed.len() - 1 {
            let mut bytes = sealed.clone().into_bytes();
            bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
            fs::write(&path, &bytes).unwrap();
            assert!(!matches!(read_record(&path), Record::Intact(_)), "a change at {at} went unnoticed");
        }
        fs::write(&path, body).unwrap();
        assert_eq!(read_record(&path), Record::Unsealed);
        assert_eq!(read_record(&dir.path().join("missing")), Record::Missing);
        std::os::unix::fs::symlink(dir.path().join("record"), dir.path().join("link")).unwrap();
        assert_eq!(read_record(&dir.path().join("link")), Record::Missing);
    }
}
