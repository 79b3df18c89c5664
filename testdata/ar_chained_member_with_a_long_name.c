/* Needed only by another member (ar_needed.c), and placed before it in the archive, so
 * the linker must rescan the archive. Its long name needs the GNU archive name table. */
int ar_chained_from_member(void) { return 41; }
