//! `chainlink inspect --check`: are the bases an output (or emitted archive) was built on
//! still where a link would find them, and are they the same?
//!
//! The manifest records, per generation, the simple name of the base archive it came from
//! and its number there (`chain::Origin`), and every member's name and blake3. Each base is
//! looked for by name (`base_search`); a generation is *identical* when the archive found
//! holds that generation with the same members, in the same order, with the same hashes
//! (the bytes of every member it carries hashed afresh), *different* when it does not, and
//! *missing* when no archive of that name is found.
//!
//! Must not change anything: it reads the output and the archives it finds.

use crate::chain::{hash_hex, json_string, members_of, Manifest, ManifestMember, MANIFEST_MEMBER};
use crate::input::base_search::BaseSearch;
use crate::util::error::{Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What was found for one generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// The archive found holds the generation as recorded.
    Identical,
    /// The archive found differs; the first difference.
    Different(String),
    /// No archive of the recorded name was found.
    Missing,
    /// The file's own generation (its link's inputs, not a base).
    Own,
}

impl Status {
    fn word(&self) -> &'static str {
        match self {
            Status::Identical => "identical",
            Status::Different(_) => "different",
            Status::Missing => "missing",
            Status::Own => "own",
        }
    }
}

/// One generation's result.
#[derive(Clone, Debug)]
pub struct GenerationCheck {
    pub generation: usize,
    pub origin: Option<crate::chain::Origin>,
    /// Where the archive was found.
    pub found: Option<PathBuf>,
    pub status: Status,
}

/// The generations as an archive found by name holds them: (name, blake3) of each member.
type Generations = Vec<Vec<(String, String)>>;

/// Checks every generation `manifest` records against the bases `search` finds.
pub fn check(manifest: &Manifest, search: &BaseSearch) -> Vec<GenerationCheck> {
    let mut read: Vec<(String, Option<PathBuf>, std::result::Result<Generations, String>)> = Vec::new();
    let mut checks = Vec::new();
    for (generation, members) in manifest.generations.iter().enumerate() {
        let origin = manifest.origins.get(generation).cloned().flatten();
        let Some(from) = &origin else {
            checks.push(GenerationCheck { generation, origin, found: None, status: Status::Own });
            continue;
        };
        if !read.iter().any(|(name, ..)| *name == from.archive) {
            let found = search.try_find(Path::new(&from.archive));
            let generations = match &found {
                Some(path) => generations_in(path).map_err(|e| e.to_string()),
                None => Err(String::new()),
            };
            read.push((from.archive.clone(), found, generations));
        }
        let (_, found, generations) = read.iter().find(|(name, ..)| *name == from.archive).expect("read above");
        let status = match (found, generations) {
            (None, _) => Status::Missing,
            (Some(_), Err(error)) => Status::Different(error.clone()),
            (Some(_), Ok(generations)) => match generations.get(from.generation as usize) {
                None => Status::Different(format!("it has no generation {}", from.generation)),
                Some(held) => compare(members, held),
            },
        };
        checks.push(GenerationCheck { generation, origin, found: found.clone(), status });
    }
    checks
}

/// Whether every base generation is identical (the exit status of `inspect --check`).
pub fn all_identical(checks: &[GenerationCheck]) -> bool {
    checks.iter().all(|check| matches!(check.status, Status::Identical | Status::Own))
}

/// The first difference between the recorded members and those an archive holds.
fn compare(recorded: &[ManifestMember], held: &[(String, String)]) -> Status {
    for (index, member) in recorded.iter().enumerate() {
        match held.get(index) {
            None => return Status::Different(format!("member {} is not there", member.name)),
            Some((name, _)) if *name != member.name => {
                return Status::Different(format!("member {} is {name} there", member.name))
            }
            Some((_, hash)) if *hash != member.blake3 => {
                return Status::Different(format!("member {} has other contents", member.name))
            }
            Some(_) => {}
        }
    }
    match held.get(recorded.len()) {
        Some((name, _)) => Status::Different(format!("it has another member, {name}")),
        None => Status::Identical,
    }
}

/// The generations of the base archive at `path`: an emitted archive's from its manifest
/// (each member it carries hashed afresh and compared with its own record), a Julia image
/// archive's one generation from its members.
fn generations_in(path: &Path) -> Result<Generations> {
    let name = path.display().to_string();
    let bytes = crate::chain::map_recorded(path)?;
    if !bytes.starts_with(b"!<arch>\n") {
        return Err(Error::new(format!("{name}: not an archive")));
    }
    let members = members_of(&name, &bytes)?;
    if !members.iter().any(|(member, _)| member == MANIFEST_MEMBER) {
        return Ok(vec![members.iter().map(|(member, data)| (member.clone(), hash_hex(data))).collect()]);
    }
    let manifest = crate::chain::manifest_in(&name, &bytes)?;
    let mut generations = Vec::new();
    for recorded in &manifest.generations {
        let mut held = Vec::new();
        for member in recorded {
            if let Some((_, data)) = members.iter().find(|(found, _)| *found == member.archive_name) {
                if hash_hex(data) != member.blake3 {
                    return Err(Error::new(format!(
                        "{name}: member {} does not match its manifest",
                        member.archive_name
                    )));
                }
            }
            held.push((member.name.clone(), member.blake3.clone()));
        }
        generations.push(held);
    }
    Ok(generations)
}

/// The report `inspect --check` prints.
pub fn describe(checks: &[GenerationCheck]) -> String {
    let mut text = String::new();
    for check in checks {
        let _ = write!(text, "generation {}: ", check.generation);
        let Some(origin) = &check.origin else {
            let _ = writeln!(text, "this file's own");
            continue;
        };
        let _ = write!(text, "{} (its generation {}): ", origin.archive, origin.generation);
        let found = check.found.as_ref().map(|path| path.display().to_string()).unwrap_or_default();
        let _ = match &check.status {
            Status::Identical => writeln!(text, "present and identical ({found})"),
            Status::Different(why) => writeln!(text, "present but different ({found}: {why})"),
            Status::Missing => writeln!(text, "missing"),
            Status::Own => writeln!(text, "this file's own"),
        };
    }
    text
}

/// The same report as JSON.
pub fn to_json(checks: &[GenerationCheck], search: &BaseSearch) -> String {
    let mut json = format!("{{\n  \"searched\": {},\n  \"generations\": [", json_string(&search.describe()));
    for (index, check) in checks.iter().enumerate() {
        json.push_str(if index == 0 { "\n" } else { ",\n" });
        let (archive, generation) = match &check.origin {
            Some(origin) => (json_string(&origin.archive), origin.generation.to_string()),
            None => ("null".to_string(), "null".to_string()),
        };
        let found = check.found.as_ref().map_or("null".to_string(), |path| json_string(&path.display().to_string()));
        let why = match &check.status {
            Status::Different(why) => json_string(why),
            _ => "null".to_string(),
        };
        let _ = write!(
            json,
            "    {{\"generation\": {}, \"archive\": {archive}, \"archive_generation\": {generation}, \"status\": \"{}\", \"found\": {found}, \"why\": {why}}}",
            check.generation,
            check.status.word()
        );
    }
    json.push_str(if checks.is_empty() { "]\n}\n" } else { "\n  ]\n}\n" });
    json
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::MemberKind;

    fn member(name: &str, hash: &str) -> ManifestMember {
        ManifestMember { kind: MemberKind::Text, name: name.into(), blake3: hash.into(), archive_name: name.into() }
    }

    #[test]
    fn generations_compare_by_names_hashes_and_order() {
        let recorded = [member("a.o", "1"), member("b.o", "2")];
        let held = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(n, h)| (n.to_string(), h.to_string())).collect()
        };
        assert_eq!(compare(&recorded, &held(&[("a.o", "1"), ("b.o", "2")])), Status::Identical);
        for other in [
            held(&[("a.o", "1"), ("b.o", "3")]),
            held(&[("b.o", "2"), ("a.o", "1")]),
            held(&[("a.o", "1")]),
            held(&[("a.o", "1"), ("b.o", "2"), ("c.o", "4")]),
        ] {
            assert!(matches!(compare(&recorded, &other), Status::Different(_)), "{other:?}");
        }
    }
}
