/*
 * pyconc.h - Python's concurrency system for C.  Include this one header.
 */
#ifndef PYCONC_H
#define PYCONC_H

#include "pyconc/base.h"
#include "pyconc/thread.h"
#include "pyconc/sync.h"
#include "pyconc/queue.h"

#endif /* PYCONC_H */
