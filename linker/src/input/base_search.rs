//! Bases found by name: `--base NAME` (a name without `/`) is looked for in the working
//! directory, then in each `--base-path DIR` in order, then in each directory of
//! `$CHAINLINK_BASE_PATH` (colon-separated), the way a runtime finds its images on a
//! search path rather than at the path they were built at. A name with a `/` is a path and
//! is used as it is. `chainlink inspect --check` finds the bases an output records by the
//! same search.
//!
//! Must not open or map what it finds (the input phase does), nor look at contents.

use crate::util::error::{Error, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The environment variable with more directories to search, after `--base-path`.
pub const BASE_PATH_VARIABLE: &str = "CHAINLINK_BASE_PATH";

/// Where bases named without a directory are looked for, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseSearch {
    dirs: Vec<PathBuf>,
}

impl BaseSearch {
    /// The working directory, `base_paths`, then `$CHAINLINK_BASE_PATH`.
    pub fn new(base_paths: &[PathBuf]) -> BaseSearch {
        BaseSearch::with_variable(base_paths, std::env::var_os(BASE_PATH_VARIABLE).as_deref())
    }

    /// As [`BaseSearch::new`], with the variable's value given (empty entries are skipped).
    pub fn with_variable(base_paths: &[PathBuf], variable: Option<&OsStr>) -> BaseSearch {
        let mut dirs = vec![PathBuf::from(".")];
        dirs.extend(base_paths.iter().cloned());
        if let Some(value) = variable {
            dirs.extend(std::env::split_paths(value).filter(|dir| !dir.as_os_str().is_empty()));
        }
        BaseSearch { dirs }
    }

    /// The file `name` stands for: itself when it has a directory part, else the first
    /// regular file of that name in the search directories.
    pub fn find(&self, name: &Path) -> Result<PathBuf> {
        self.try_find(name).ok_or_else(|| {
            Error::new(format!(
                "base archive {} not found (looked in {}; add directories with --base-path or ${BASE_PATH_VARIABLE})",
                name.display(),
                self.describe()
            ))
        })
    }

    /// As [`BaseSearch::find`]; `None` when nothing is found.
    pub fn try_find(&self, name: &Path) -> Option<PathBuf> {
        if !is_bare_name(name) {
            return Some(name.to_path_buf());
        }
        self.dirs.iter().map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
    }

    /// The directories searched, for messages: `., dir1, dir2`.
    pub fn describe(&self) -> String {
        let dirs: Vec<String> = self.dirs.iter().map(|dir| dir.display().to_string()).collect();
        dirs.join(", ")
    }
}

/// A name without a `/`: searched for, not taken as a path.
pub fn is_bare_name(name: &Path) -> bool {
    !name.as_os_str().as_encoded_bytes().contains(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_order_is_working_directory_options_then_variable() {
        let search = BaseSearch::with_variable(
            &[PathBuf::from("/opt/a"), PathBuf::from("b")],
            Some(OsStr::new("/var/c::/var/d")),
        );
        assert_eq!(search.describe(), "., /opt/a, b, /var/c, /var/d");
        assert_eq!(BaseSearch::with_variable(&[], None).describe(), ".");
    }

    #[test]
    fn the_first_directory_holding_the_name_wins_and_paths_are_taken_as_they_are() {
        let root = tempfile::tempdir().unwrap();
        let (first, second) = (root.path().join("first"), root.path().join("second"));
        std::fs::create_dir_all(&first).unwrap();
        std::fs::create_dir_all(second.join("sys-o.a")).unwrap(); // a directory: not a base
        std::fs::create_dir_all(root.path().join("third")).unwrap();
        std::fs::write(root.path().join("third/sys-o.a"), b"!<arch>\n").unwrap();
        std::fs::write(first.join("other.a"), b"!<arch>\n").unwrap();
        let variable = root.path().join("third").into_os_string();
        let search = BaseSearch::with_variable(&[first.clone(), second], Some(&variable));
        assert_eq!(search.find(Path::new("sys-o.a")).unwrap(), root.path().join("third/sys-o.a"));
        assert_eq!(search.find(Path::new("other.a")).unwrap(), first.join("other.a"));
        assert_eq!(search.find(Path::new("x/none.a")).unwrap(), PathBuf::from("x/none.a"));
        let error = search.find(Path::new("none.a")).unwrap_err().to_string();
        assert!(error.contains("base archive none.a not found (looked in ., "), "{error}");
        assert!(error.contains("/third"), "{error}");
    }
}
