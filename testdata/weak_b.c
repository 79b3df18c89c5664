/* Strong definitions overriding weak_a.c's weak ones, and users of the weak ones it keeps. */
int weak_overridden(void) { return 100; }
int weak_data = 20;
int weak_kept(void);
extern int weak_kept_data;

int weak_b_sum(void) { return weak_overridden() + weak_kept() + weak_data + weak_kept_data; }
