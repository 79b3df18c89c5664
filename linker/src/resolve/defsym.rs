//! `--defsym NAME=EXPRESSION`: symbols the command line defines.
//!
//! A number defines an absolute symbol; `SYMBOL`, `SYMBOL+N` or `SYMBOL-N` defines one in
//! SYMBOL's section, at its address plus N (GNU ld makes the first of these relative too;
//! lld all of them). A definition overrides an object's, as GNU ld's does. The symbols are
//! exported. Must not lay anything out: their addresses and symbol fields are
//! the layout's (`layout::defsym`).

use crate::config::Config;
use crate::resolve::{Definition, SymbolDb, Synthetic};
use crate::util::error::{Error, Result};

/// Defines every `--defsym` name in `db` (after symbol resolution).
pub fn define<'data>(db: &mut SymbolDb<'data>, config: &'data Config) -> Result<()> {
    for (index, defsym) in config.gnu.defsyms.iter().enumerate() {
        if let Some(target) = &defsym.symbol {
            let defined = db.lookup(target.as_bytes()).is_some_and(|id| db.global(id).is_defined_locally());
            if !defined {
                return Err(Error::new(format!(
                    "--defsym {}={target}{}: `{target}` is not defined in this library",
                    defsym.name,
                    offset_text(defsym.offset)
                )));
            }
        }
        let synthetic = Synthetic::Defsym { index: index as u32, absolute: defsym.symbol.is_none() };
        let name = defsym.name.as_bytes();
        match db.lookup(name) {
            Some(id) if matches!(db.global(id).definition, Definition::Object { .. }) => {
                let global = &mut db.globals[id.0 as usize];
                global.definition = Definition::Synthetic(synthetic);
                global.weak_definition = false;
                global.common = None;
            }
            _ => {
                db.define_synthetic(name, synthetic)?;
            }
        }
    }
    Ok(())
}

fn offset_text(offset: i64) -> String {
    match offset {
        0 => String::new(),
        n if n < 0 => format!("-{:#x}", n.unsigned_abs()),
        n => format!("+{n:#x}"),
    }
}
