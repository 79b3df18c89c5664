//! Whether the output asks for an executable stack (`PT_GNU_STACK` with `PF_X`), by GNU
//! ld's rule: `-z execstack` or `-z noexecstack` decide; otherwise the stack is executable
//! when some linked object has no `.note.GNU-stack` section (code assembled without saying
//! what it needs) or has one marked executable. Must not look at anything else.

use crate::config::Config;
use crate::input::object_file::ENDIAN;
use crate::resolve::SymbolDb;
use object::elf;
use object::read::elf::SectionHeader as _;

pub fn executable_stack(db: &SymbolDb, config: &Config) -> bool {
    if let Some(forced) = config.gnu.exec_stack {
        return forced;
    }
    db.objects.iter().any(|loaded| {
        let object = &loaded.object;
        let note = (1..object.sections.len()).find(|&index| object.section_name(index) == b".note.GNU-stack");
        note.is_none_or(|index| object.section(index).sh_flags(ENDIAN).0 & elf::SHF_EXECINSTR.0 != 0)
    })
}
