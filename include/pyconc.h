/*
 * pyconc.h - Python's concurrency system for C.  Include this one header.
 */
#ifndef PYCONC_H
#define PYCONC_H

#include "pyconc/aio.h"
#include "pyconc/base.h"
#include "pyconc/coro.h"
#include "pyconc/future.h"
#include "pyconc/gil.h"
#include "pyconc/io.h"
#include "pyconc/loop.h"
#include "pyconc/mpqueue.h"
#include "pyconc/pipe.h"
#include "pyconc/pool.h"
#include "pyconc/process.h"
#include "pyconc/queue.h"
#include "pyconc/shared.h"
#include "pyconc/sync.h"
#include "pyconc/thread.h"

#endif /* PYCONC_H */
