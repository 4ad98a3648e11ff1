#!/usr/bin/env bash
# YARN benchmark on Hadoop's minicluster: batch and session vs Spark alone, 1+1 round
# trips, and the ResourceManager requests per poll with many applications tracked.
exec "$(dirname "$0")/run.sh" --test yarn "$@"
