int ar_chained_from_member(void);
int ar_needed(void) { return ar_chained_from_member() + 1; }
