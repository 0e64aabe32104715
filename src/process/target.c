/*
 * Naming a function so that it survives exec (ARCHITECTURE decision 4).
 *
 * A spawn or forkserver child is a fresh image of the program: its
 * addresses differ from the parent's (ASLR).  The parent names the target
 * by the loaded object whose executable segment holds it (the main program
 * is "", a library its path as the dynamic linker knows it) and its offset
 * from that object's load address; the child finds the same object in its
 * own list (dl_iterate_phdr), dlopen()s a library it lacks by path, adds
 * the offset, and compares the first bytes of code there with those the
 * parent saw, so a different build of the program or library is refused
 * instead of jumping into the middle of some other function.
 *
 * Rejected: dladdr + dlsym by symbol name.  It needs the function in the
 * dynamic symbol table (-rdynamic, exported, not static), which a C
 * program's targets usually are not.  Rejected: a registration macro
 * putting (name, pointer) pairs in an ELF section: it works, but every
 * target must be marked, and a library's function cannot be named without
 * touching the library.  The offset needs neither; it fails only for code
 * outside any loaded object (a JIT), which start reports as -EINVAL.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <string.h>

#include "process-internal.h"

struct find {
    uintptr_t addr;   /* in: the function (parent) */
    const char *path; /* in: the object (child); "" main program */
    int index;        /* objects seen */
    bool found;
    uintptr_t base;    /* out: load address */
    uintptr_t seg_end; /* out: end of the executable segment holding addr */
    const char *name;  /* out (parent) */
};

/* The executable PT_LOAD segment of `info` holding `addr`, if any. */
static bool exec_segment(struct dl_phdr_info *info, uintptr_t addr, uintptr_t *end) {
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (addr >= lo && addr < hi) {
            *end = hi;
            return true;
        }
    }
    return false;
}

static int by_addr(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct find *f = data;
    int index = f->index++;
    if (!exec_segment(info, f->addr, &f->seg_end))
        return 0;
    f->found = true;
    f->base = info->dlpi_addr;
    /* glibc lists the main program first, named "" */
    f->name = index == 0 ? "" : info->dlpi_name;
    return 1;
}

static int by_path(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct find *f = data;
    int index = f->index++;
    const char *name = index == 0 ? "" : info->dlpi_name;
    if (strcmp(name, f->path) != 0)
        return 0;
    f->found = true;
    f->base = info->dlpi_addr;
    if (!exec_segment(info, info->dlpi_addr + f->addr, &f->seg_end))
        f->seg_end = 0;
    return 1;
}

int pc__fn_name_of(const void *fn, pc__fn_name *out) {
    struct find f = {.addr = (uintptr_t)fn};
    dl_iterate_phdr(by_addr, &f);
    if (!f.found || strlen(f.name) >= sizeof out->path)
        return -EINVAL;
    strcpy(out->path, f.name);
    out->off = f.addr - f.base;
    size_t n = f.seg_end - f.addr;
    out->code_len = (uint32_t)(n < sizeof out->code ? n : sizeof out->code);
    memcpy(out->code, fn, out->code_len);
    return 0;
}

static bool find_path(const pc__fn_name *n, struct find *f) {
    memset(f, 0, sizeof *f);
    f->path = n->path;
    f->addr = (uintptr_t)n->off; /* by_path reads it as the offset */
    dl_iterate_phdr(by_path, f);
    return f->found;
}

int pc__fn_resolve(const pc__fn_name *n, void **fn) {
    struct find f;
    if (!find_path(n, &f)) {
        if (!n->path[0] || !dlopen(n->path, RTLD_NOW | RTLD_GLOBAL) || !find_path(n, &f))
            return -ENOENT;
    }
    uintptr_t addr = f.base + (uintptr_t)n->off;
    if (!f.seg_end || f.seg_end - addr < n->code_len || memcmp((void *)addr, n->code, n->code_len))
        return -ENOEXEC;
    *fn = (void *)addr;
    return 0;
}
