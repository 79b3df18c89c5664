//! The symbol names dispatch tables are found by (`--table-name KEY=NAME`), Julia's by
//! default.
//!
//! Must not read objects: `tables` finds the symbols these name.

use crate::util::error::{Error, Result};

/// The symbol names tables are found by. `{i}` in a sharded name stands for the shard.
#[derive(Clone, Debug)]
pub struct TableNames {
    pub image: String,
    pub fvars: TableForm,
    pub gvars: TableForm,
}

/// The names of one kind of table (functions or global slots), unsharded and sharded.
#[derive(Clone, Debug)]
pub struct TableForm {
    pub base: String,
    pub offsets: String,
    pub ptrs: String,
    pub count: String,
    pub shard_base: String,
    pub shard_offsets: String,
    pub shard_ptrs: String,
    pub shard_count: String,
}

impl Default for TableNames {
    fn default() -> TableNames {
        let form = |kind: &str, shard: &str| TableForm {
            base: format!("jl_sysimg_{kind}s_base"),
            offsets: format!("jl_sysimg_{kind}s_offsets"),
            ptrs: format!("jl_sysimg_{kind}s_ptrs"),
            count: format!("jl_sysimg_{kind}s_count"),
            shard_base: format!("jl_{shard}_base_{{i}}"),
            shard_offsets: format!("jl_{shard}_offsets_{{i}}"),
            shard_ptrs: format!("jl_{shard}_ptrs_{{i}}"),
            shard_count: format!("jl_{shard}_count_{{i}}"),
        };
        TableNames { image: "chainlink_image".to_string(), fvars: form("fvar", "fvar"), gvars: form("gvar", "gvar") }
    }
}

impl TableNames {
    /// Sets one name from a `KEY=NAME` option; keys are `image`, and
    /// `{fvars,gvars}-{base,offsets,ptrs,count}` with an optional `shard-` prefix.
    pub fn set(&mut self, key: &str, name: &str) -> Result<()> {
        if key == "image" {
            self.image = name.to_string();
            return Ok(());
        }
        let (sharded, rest) = match key.strip_prefix("shard-") {
            Some(rest) => (true, rest),
            None => (false, key),
        };
        let (kind, field) =
            rest.split_once('-').ok_or_else(|| Error::usage(format!("unknown table name key `{key}`")))?;
        let form = match kind {
            "fvars" => &mut self.fvars,
            "gvars" => &mut self.gvars,
            _ => return Err(Error::usage(format!("unknown table name key `{key}`"))),
        };
        let slot = match (sharded, field) {
            (false, "base") => &mut form.base,
            (false, "offsets") => &mut form.offsets,
            (false, "ptrs") => &mut form.ptrs,
            (false, "count") => &mut form.count,
            (true, "base") => &mut form.shard_base,
            (true, "offsets") => &mut form.shard_offsets,
            (true, "ptrs") => &mut form.shard_ptrs,
            (true, "count") => &mut form.shard_count,
            _ => return Err(Error::usage(format!("unknown table name key `{key}`"))),
        };
        if sharded && !name.contains("{i}") {
            return Err(Error::usage(format!("sharded table name `{name}` must contain {{i}}")));
        }
        *slot = name.to_string();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_configurable() {
        let mut names = TableNames::default();
        names.set("image", "my_image").unwrap();
        names.set("fvars-offsets", "my_offsets").unwrap();
        names.set("shard-gvars-ptrs", "g_{i}_ptrs").unwrap();
        assert_eq!(names.image, "my_image");
        assert_eq!(names.fvars.offsets, "my_offsets");
        assert_eq!(names.gvars.shard_ptrs, "g_{i}_ptrs");
        assert!(names.set("shard-gvars-ptrs", "no_placeholder").is_err());
        assert!(names.set("fvars-bogus", "x").is_err());
        assert!(names.set("bogus", "x").is_err());
    }
}
