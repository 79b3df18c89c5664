//! What the caches did for one link (the output cache and the prepared base), as the
//! incremental layer reports it and `--verbose`/`--stats-json` print it. Only a record:
//! nothing here decides anything.

/// Declares a report enum with the name each value has in `--stats-json` and `--verbose`.
macro_rules! outcome_names {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub enum $name {
            #[default]
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }
    };
}

outcome_names! {
    /// What the output cache did.
    OutputOutcome {
        /// Not looked up, or no entry for this link's key.
        Miss => "miss",
        /// The output already held the cached result.
        UpToDate => "up-to-date",
        /// The output was written from the cache.
        Copied => "copied",
    }
}

outcome_names! {
    /// What the prepared base was.
    BaseOutcome {
        /// Not consulted: the output cache had the output.
        NotNeeded => "not-needed",
        /// The link has no base generation.
        NoBase => "none",
        /// None yet for this base.
        Miss => "miss",
        Hit => "hit",
        /// Ignored and rebuilt.
        Corrupt => "corrupt",
        /// Left alone; the link goes on without it.
        Unreadable => "unreadable",
    }
}

outcome_names! {
    /// What became of the base region's stored bytes.
    RegionOutcome {
        /// No prepared base consulted, or it holds no region for this link.
        NoRegion => "none",
        /// Copied into the output, then patched.
        Reused => "reused",
        /// Stored with the prepared base.
        Recorded => "recorded",
    }
}

/// What the cache did for one link, for `--verbose`, `--time` and `--stats-json`.
#[derive(Clone, Debug, Default)]
pub struct CacheReport {
    pub enabled: bool,
    pub outcome: OutputOutcome,
    pub stored: bool,
    /// Inputs whose content hash was remembered rather than recomputed.
    pub fingerprints_reused: usize,
    pub inputs_hashed: usize,
    /// Problems met and worked around (an unwritable directory, a corrupt entry).
    pub warnings: Vec<String>,
    pub base: BaseOutcome,
    /// A prepared base was written (new, or refreshed after rescans).
    pub base_stored: bool,
    /// Base chunks whose scan was replayed from the prepared base, and rescanned.
    pub chunks_replayed: usize,
    pub chunks_rescanned: usize,
    /// Why the first rescanned chunk could not be replayed.
    pub rescan_reason: Option<String>,
    pub region: RegionOutcome,
    /// With `"reused"`: chunks patched over the copy, and the relocations applied to them.
    pub region_chunks: usize,
    pub region_patches: usize,
    /// With `"reused"`: the region's whole pages were cloned (reflink) rather than copied.
    pub region_cloned: bool,
    /// Digests of base definitions the dependency records hashed (not known from the
    /// prepared base or learned beside it).
    pub digests_hashed: usize,
    /// The base's resolved symbols were restored from the prepared base's record rather
    /// than loaded from the base objects.
    pub symbols_restored: bool,
}

impl CacheReport {
    /// One line on the prepared base, for `--verbose`.
    pub fn describe_base(&self) -> String {
        let reason = self.rescan_reason.as_deref().map(|why| format!(" (first: {why})")).unwrap_or_default();
        match self.base {
            BaseOutcome::NotNeeded => "prepared base: not needed".to_string(),
            BaseOutcome::NoBase => "prepared base: none (no base generation)".to_string(),
            BaseOutcome::Hit => format!(
                "prepared base: hit; base symbols {}; {} base chunk scan(s) reused, {} rescanned{reason}; {}{}",
                if self.symbols_restored { "restored" } else { "loaded" },
                self.chunks_replayed,
                self.chunks_rescanned,
                self.describe_region(),
                if self.base_stored { "; refreshed" } else { "" }
            ),
            outcome => format!(
                "prepared base: {}; {}",
                outcome.as_str(),
                if self.base_stored { "stored for the next link" } else { "not stored" }
            ),
        }
    }

    /// What happened to the base region's stored bytes, for `--verbose`.
    pub fn describe_region(&self) -> String {
        match self.region {
            RegionOutcome::Reused => format!(
                "base region {} from it, {} relocation(s) in {} chunk(s) applied again",
                if self.region_cloned { "cloned (reflink)" } else { "copied" },
                self.region_patches,
                self.region_chunks
            ),
            RegionOutcome::Recorded => "base region recorded".to_string(),
            _ => "no base region".to_string(),
        }
    }
}
