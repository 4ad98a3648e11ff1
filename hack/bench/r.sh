#!/usr/bin/env bash
# R session benchmark: sparkr POST -> idle against a pyspark session start on the
# same server, and the R `1 + 1` round trip.
exec "$(dirname "$0")/run.sh" r "$@"
