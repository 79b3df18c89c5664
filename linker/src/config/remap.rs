//! `--remap-path-prefix FROM=TO`: the rules, how one is spelt, and which applies to a path.
//!
//! rustc's documented semantics: `FROM` is everything before the last `=` (it may hold
//! `=` itself, `TO` may not), matching is a plain byte prefix (no notion of path
//! components), and when several rules match a path the last one given wins (GCC's
//! `-fdebug-prefix-map` also tries the last one first). Plain data and string logic only:
//! what is rewritten in which section is `sections::debug_remap`'s business.

/// One `FROM=TO` rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathRemap {
    pub from: String,
    pub to: String,
}

impl PathRemap {
    /// Reads `FROM=TO`; the error is the whole message for a usage error.
    pub fn parse(value: &str) -> Result<PathRemap, String> {
        match value.rsplit_once('=') {
            Some((from, to)) if !from.is_empty() => Ok(PathRemap { from: from.to_string(), to: to.to_string() }),
            _ => Err(format!("--remap-path-prefix wants FROM=TO with a non-empty FROM, got `{value}`")),
        }
    }
}

/// `path` with the prefix of the last rule that matches it replaced; `None` when no rule
/// matches (the path stays as it is).
pub fn remap(rules: &[PathRemap], path: &[u8]) -> Option<Vec<u8>> {
    let rule = rules.iter().rev().find(|rule| path.starts_with(rule.from.as_bytes()))?;
    let mut remapped = Vec::with_capacity(rule.to.len() + path.len() - rule.from.len());
    remapped.extend_from_slice(rule.to.as_bytes());
    remapped.extend_from_slice(&path[rule.from.len()..]);
    Some(remapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_at_the_last_equals_sign() {
        assert_eq!(PathRemap::parse("/a=b=/c").unwrap(), PathRemap { from: "/a=b".into(), to: "/c".into() });
        assert_eq!(PathRemap::parse("/a=").unwrap(), PathRemap { from: "/a".into(), to: String::new() });
        assert!(PathRemap::parse("/a").is_err());
        assert!(PathRemap::parse("=/b").is_err());
    }

    #[test]
    fn the_last_matching_rule_wins() {
        let rules = [PathRemap::parse("/build=/x").unwrap(), PathRemap::parse("/build/src=/src").unwrap()];
        assert_eq!(remap(&rules, b"/build/src/a.c").unwrap(), b"/src/a.c");
        assert_eq!(remap(&rules, b"/build/inc/a.h").unwrap(), b"/x/inc/a.h");
        assert_eq!(remap(&rules, b"/other/a.c"), None);
        // Textual, like rustc and GCC: `/build` matches `/buildbot` too.
        assert_eq!(remap(&rules, b"/buildbot").unwrap(), b"/xbot");
    }
}
