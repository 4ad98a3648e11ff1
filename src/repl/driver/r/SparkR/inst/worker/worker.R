# One task of Spark's RRunner (spark.sparkr.use.daemon=false, or Windows).
# Finds the SparkR library this script was installed with: the script lives
# at <lib>/SparkR/worker/worker.R; SPARKR_RLIBDIR is the fallback.
local({
  args <- commandArgs(trailingOnly = FALSE)
  file <- sub("^--file=", "", args[startsWith(args, "--file=")])
  libs <- character(0)
  if (length(file) == 1L && nzchar(file)) {
    libs <- dirname(dirname(dirname(normalizePath(file, mustWork = FALSE))))
  }
  libs <- c(libs, strsplit(Sys.getenv("SPARKR_RLIBDIR"), ",", fixed = TRUE)[[1L]])
  libs <- unique(libs[nzchar(libs) & file.exists(file.path(libs, "SparkR", "DESCRIPTION"))])
  .libPaths(c(libs, .libPaths()))
  suppressPackageStartupMessages(library(SparkR, lib.loc = c(libs, .libPaths())))
})
if (!isTRUE(SparkR:::.workerMain())) quit(save = "no", status = 1L)
quit(save = "no", status = 0L)
