/* Nothing references this member: it must not be linked unless --whole-archive. */
int ar_unneeded(void) { return 99; }
int ar_unneeded_data = 98;
