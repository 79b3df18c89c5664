int chainlink_duplicate_symbol(void) { return 1; }
