#!/bin/sh
# The seed tour: runs every example of the seed under its question.
set -eu
bin=${1:?usage: tour.sh BUILD_DIR/examples/seed}
echo "pyconc seed tour (examples in $bin)"
