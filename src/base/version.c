#include "pyconc/base.h"

#define PC_STR2(x) #x
#define PC_STR(x) PC_STR2(x)

const char *pc_version_string(void) {
    return PC_STR(PC_VERSION_MAJOR) "." PC_STR(PC_VERSION_MINOR) "." PC_STR(PC_VERSION_PATCH);
}
