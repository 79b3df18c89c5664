/* Symbols of every visibility, used from vis_b.c. */
__attribute__((visibility("hidden"))) int vis_hidden_fn(int x) { return x + 100; }
__attribute__((visibility("hidden"))) int vis_hidden_data = 11;
/* Hidden, but vis_b.c declares it without the attribute: it reaches it through the GOT. */
__attribute__((visibility("hidden"))) int vis_hidden_via_got = 12;
__attribute__((visibility("protected"))) int vis_protected_fn(int x) { return x + 200; }
__attribute__((visibility("protected"))) int vis_protected_data = 22;
int vis_default_fn(int x) { return x + 300; }
int vis_default_data = 33;
/* Internal calls: to a hidden and to a protected function from the same object. */
int vis_a_internal(int x) { return vis_hidden_fn(x) + vis_protected_fn(x) + vis_protected_data; }
