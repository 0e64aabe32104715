/*
 * LeakSanitizer: Criterion 2.4's runner (its BoxFort timeout watchdog)
 * leaks one 48-byte timeout request now and then when it runs tests two at
 * a time (--jobs 2): the leak is in the runner's parent process, allocated
 * by bxfi_push_timeout(), and shows without any pyconc code on the stack.
 * Linked into every test program.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libcriterion.so\n";
}
