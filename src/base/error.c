/* pc_strerror: text for negative errno values and pyconc's private codes.
 * Uses only static strings (strerror() may write a shared buffer, and
 * strerror_r is not async-signal-safe in every libc). */
#include <errno.h>

#include "pyconc/base.h"

const char *pc_strerror(int err) {
    switch (err) {
    case 0: return "success";
    case PC_EBROKEN: return "barrier is broken";
    case PC_EWORKERDIED: return "pool worker died while it held the task";
    case -EAGAIN: return "operation would block";
    case -ETIMEDOUT: return "timed out";
    case -EPIPE: return "closed or shut down";
    case -ECANCELED: return "cancelled";
    case -EBUSY: return "busy";
    case -EINVAL: return "invalid argument";
    case -ENOMEM: return "out of memory";
    case -EPERM: return "operation not permitted for the caller";
    case -EDEADLK: return "would deadlock";
    case -EALREADY: return "already started";
    case -ESRCH: return "not started";
    case -EOVERFLOW: return "released or marked done too many times";
    case -ENOTSUP: return "not supported by this object";
    case -EINTR: return "interrupted";
    case -ENOENT: return "no such entry";
    case -EEXIST: return "already exists";
    case -EMFILE: return "too many open files";
    case -ENOSPC: return "no space left";
    case -ECHILD: return "no such child";
    case -EOWNERDEAD: return "previous owner died";
    case -ENOTRECOVERABLE: return "state not recoverable";
    case -EBADF: return "bad file descriptor";
    case -EIO: return "input/output error";
    default: return err < 0 ? "unknown error" : "not an error code";
    }
}
