/* Defines a symbol that ar_main.c references only weakly: not pulled by that reference. */
int ar_weak_only(void) { return 5; }
