# The RDD API: an R-side handle on a JavaRDD whose elements R workers read.
#
# Storage formats of the JavaRDD's elements (the "serialized mode"):
#   "byte"   each element is one R-serialized object holding a batch of
#            elements (parallelize() writes one list per partition; an R
#            worker writes one object per partition: the partition function's
#            value);
#   "string" each element is a Java String (e.g. textFile());
#   "row"    each element is a DataFrame row in SerDe layout (toRDD()).
#
# Transformations are lazy and pipelined: consecutive R functions over the
# same parent are composed into one partition function, and one RRDD (one R
# worker per partition) is created when the result is first needed.

setClass("RDD", slots = c(env = "environment"))

.newRDD <- function(jrdd, serializedMode = "byte") {
  stopifnot(serializedMode %in% c("byte", "string", "row"))
  env <- new.env(parent = emptyenv())
  env$jrdd <- jrdd
  env$mode <- serializedMode
  env$func <- NULL
  env$prevJrdd <- NULL
  env$prevMode <- NULL
  env$isCached <- FALSE
  env$isCheckpointed <- FALSE
  new("RDD", env = env)
}

# SparkR's constructor name.
RDD <- function(jrdd, serializedMode = "byte", isCached = FALSE, isCheckpointed = FALSE) {
  r <- .newRDD(jrdd, serializedMode)
  r@env$isCached <- isCached
  r@env$isCheckpointed <- isCheckpointed
  r
}

# A new RDD computing func(partIndex, part) over the partitions of `prev`.
.pipelineRDD <- function(prev, func) {
  penv <- prev@env
  env <- new.env(parent = emptyenv())
  env$jrdd <- NULL
  env$mode <- "byte"
  env$isCached <- FALSE
  env$isCheckpointed <- FALSE
  if (!is.null(penv$func) && !penv$isCached && !penv$isCheckpointed) {
    before <- penv$func
    after <- .cleanClosure(func)
    composed <- function(partIndex, part) after(partIndex, before(partIndex, part))
    env$func <- .cleanClosure(composed)
    env$prevJrdd <- penv$prevJrdd
    env$prevMode <- penv$prevMode
  } else {
    env$func <- .cleanClosure(func)
    env$prevJrdd <- getJRDD(prev)
    env$prevMode <- penv$mode
  }
  new("RDD", env = env)
}

# The function's dependencies: packages the workers attach before running it.
.rddPackageNames <- function() {
  pk <- .sparkREnv[[".packages"]]
  if (is.null(pk)) character(0) else as.character(pk)
}

includePackage <- function(sc, pkg) {
  pkg <- as.character(substitute(pkg))
  if (!requireNamespace(pkg, quietly = TRUE)) {
    stop("package ", pkg, " is not installed")
  }
  .sparkREnv[[".packages"]] <- unique(c(.rddPackageNames(), pkg))
  invisible(NULL)
}

.rddBroadcastList <- function() {
  b <- .sparkREnv[[".broadcasts"]]
  if (is.null(b)) list() else unname(as.list(b))
}

.materializeRDD <- function(rdd) {
  env <- rdd@env
  if (!is.null(env$jrdd)) return(env$jrdd)
  prev <- env$prevJrdd
  rrdd <- newJObject("org.apache.spark.api.r.RRDD",
                     callJMethod(prev, "rdd"),
                     serialize(env$func, connection = NULL),
                     env$prevMode,
                     "byte",
                     serialize(.rddPackageNames(), connection = NULL),
                     .rddBroadcastList(),
                     callJMethod(prev, "classTag"))
  env$jrdd <- callJMethod(rrdd, "asJavaRDD")
  env$mode <- "byte"
  env$jrdd
}

setMethod("getJRDD", signature(rdd = "RDD"), function(rdd, ...) .materializeRDD(rdd))
setMethod("getSerializedMode", signature(rdd = "RDD"), function(rdd, ...) {
  if (is.null(rdd@env$jrdd)) "byte" else rdd@env$mode
})

setMethod("show", "RDD", function(object) {
  jrdd <- getJRDD(object)
  cat(callJMethod(callJMethod(jrdd, "rdd"), "toString"), "\n", sep = "")
  invisible(object)
})

# ------------------------------------------------------------ creation

.rddDefaultSC <- function() {
  sc <- .sparkREnv$.sparkRjsc
  if (is.null(sc) && exists("getJavaSparkContext", mode = "function")) {
    sc <- getJavaSparkContext()
  }
  if (is.null(sc)) stop("no SparkContext: call sparkR.session() first", call. = FALSE)
  sc
}

# Splits `n` items into `k` contiguous, nearly equal slices.
.sliceBounds <- function(n, k) {
  cuts <- floor(seq(0, k) * n / k)
  lapply(seq_len(k), function(i) c(cuts[i] + 1, cuts[i + 1]))
}

# Serialized slices larger than this go through a temporary file.
.parallelizeInlineLimit <- 16 * 1024 * 1024

parallelize <- function(sc, coll, numSlices = 1L) {
  if (missing(sc) || is.null(sc)) sc <- .rddDefaultSC()
  if (is.data.frame(coll)) {
    coll <- lapply(seq_len(nrow(coll)), function(i) coll[i, , drop = FALSE])
  } else if (!is.list(coll)) {
    coll <- as.list(coll)
  }
  numSlices <- as.integer(numSlices)
  if (length(numSlices) != 1L || is.na(numSlices) || numSlices < 1L) numSlices <- 1L
  slices <- base::lapply(.sliceBounds(length(coll), numSlices), function(b) {
    part <- if (b[2] >= b[1]) coll[b[1]:b[2]] else list()
    serialize(part, connection = NULL)
  })
  total <- sum(vapply(slices, length, numeric(1)))
  jrdd <- if (total <= .parallelizeInlineLimit) {
    callJStatic("org.apache.spark.api.r.RRDD", "createRDDFromArray", sc, slices)
  } else {
    path <- tempfile(fileext = ".rdd")
    on.exit(unlink(path), add = TRUE)
    con <- file(path, "wb")
    tryCatch({
      for (s in slices) {
        writeBin(length(s), con, size = 4L, endian = "big")
        writeBin(s, con)
      }
    }, finally = close(con))
    callJStatic("org.apache.spark.api.r.RRDD", "createRDDFromFile", sc, path, numSlices)
  }
  .newRDD(jrdd, "byte")
}

textFile <- function(sc, path, minPartitions = NULL) {
  if (missing(sc) || is.null(sc)) sc <- .rddDefaultSC()
  path <- paste(suppressWarnings(normalizePath(path, mustWork = FALSE)), collapse = ",")
  jrdd <- if (is.null(minPartitions)) {
    callJMethod(sc, "textFile", path)
  } else {
    callJMethod(sc, "textFile", path, as.integer(minPartitions))
  }
  .newRDD(jrdd, "string")
}

# A SparkDataFrame's rows as an RDD of named lists.
toRDD <- function(x) {
  sdf <- x@sdf
  colNames <- as.character(unlist(callJMethod(sdf, "columns")))
  jrdd <- callJStatic("org.apache.spark.sql.api.r.SQLUtils", "dfToRowRDD", sdf)
  rows <- .newRDD(jrdd, "row")
  lapplyPartitionsWithIndex(rows, function(partIndex, part) {
    base::lapply(part, function(row) {
      names(row) <- colNames
      row
    })
  })
}

# ------------------------------------------------------------ decoding

# Turns the JVM elements of one collected batch into a list of R values.
.decodeElements <- function(elems, mode, flatten = TRUE) {
  if (is.null(elems)) return(list())
  if (mode == "string") return(as.list(as.character(unlist(elems))))
  if (is.raw(elems)) elems <- list(elems)
  out <- base::lapply(elems, function(b) {
    if (mode == "row") {
      con <- rawConnection(b, "rb")
      on.exit(close(con))
      list(readObject(con))
    } else {
      unserialize(b)
    }
  })
  if (flatten) as.list(unlist(out, recursive = FALSE)) else out
}

# Runs a Spark job.  When R code failed on an executor, the error raised
# here leads with the R error(s) the worker printed; the JVM's full message
# stays in the condition's `jvmMessage`.
.runRJob <- function(expr) {
  tryCatch(expr, error = function(e) {
    msg <- if (is.character(e$jvmMessage)) e$jvmMessage else conditionMessage(e)
    lines <- strsplit(msg, "\n", fixed = TRUE)[[1L]]
    start <- grep("R worker produced errors:", lines, fixed = TRUE)
    if (length(start) == 0L) stop(e)
    stack <- grep("^\\s+at ", lines)
    stack <- stack[stack > start[1L]]
    end <- if (length(stack)) stack[1L] - 1L else length(lines)
    workerLines <- lines[start[1L]:end]
    workerLines[1L] <- sub(".*R worker produced errors:\\s*", "", workerLines[1L])
    errs <- unique(grep("^Error", workerLines, value = TRUE))
    if (length(errs) == 0L) stop(e)
    stop(structure(
      class = c("sparkRWorkerError", "error", "condition"),
      list(message = paste0("R computation failed on an executor:\n",
                            paste(errs, collapse = "\n")),
           call = NULL, jvmMessage = msg)))
  })
}

.collectJRDD <- function(jrdd) {
  .runRJob(callJMethod(callJMethod(jrdd, "rdd"), "collect"))
}

# ------------------------------------------------------------ actions

.collectRDD <- function(x, flatten = TRUE) {
  jrdd <- getJRDD(x)
  .decodeElements(.collectJRDD(jrdd), getSerializedMode(x), flatten)
}

setMethod("collect", signature(x = "RDD"), function(x, flatten = TRUE, ...) {
  .collectRDD(x, flatten)
})
setMethod("collectRDD", signature(x = "RDD"), function(x, flatten = TRUE, ...) {
  .collectRDD(x, flatten)
})

# The elements of some partitions (0-based ids), in order.
.collectPartitions <- function(x, ids) {
  jrdd <- getJRDD(x)
  mode <- getSerializedMode(x)
  parts <- .runRJob(callJMethod(jrdd, "collectPartitions", as.list(as.integer(ids))))
  if (!is.list(parts) || inherits(parts, "jobj")) parts <- list(parts)
  base::lapply(parts, function(jl) {
    elems <- if (inherits(jl, "jobj")) callJMethod(jl, "toArray") else jl
    .decodeElements(elems, mode, TRUE)
  })
}

setMethod("collectPartition", signature(x = "RDD", partitionId = "numeric"),
          function(x, partitionId) {
            .collectPartitions(x, partitionId)[[1L]]
          })

setMethod("getNumPartitions", signature(x = "RDD"), function(x) {
  callJMethod(getJRDD(x), "getNumPartitions")
})
setMethod("numPartitions", signature(x = "RDD"), function(x) getNumPartitions(x))

setMethod("count", signature(x = "RDD"), function(x) {
  sizes <- .collectRDD(lapplyPartitionsWithIndex(x, function(partIndex, part) {
    list(length(part))
  }))
  as.numeric(sum(unlist(sizes)))
})
setMethod("countRDD", signature(x = "RDD"), function(x) count(x))
setMethod("length", signature(x = "RDD"), function(x) count(x))

setMethod("reduce", signature(x = "RDD", func = "ANY"), function(x, func) {
  func <- match.fun(func)
  partials <- .collectRDD(lapplyPartitionsWithIndex(x, function(partIndex, part) {
    if (length(part) == 0L) list() else list(Reduce(func, part))
  }))
  if (length(partials) == 0L) return(NULL)
  Reduce(func, partials)
})

setMethod("fold", signature(x = "RDD"), function(x, zeroValue, op) {
  op <- match.fun(op)
  partials <- .collectRDD(lapplyPartitionsWithIndex(x, function(partIndex, part) {
    list(Reduce(op, part, zeroValue))
  }))
  Reduce(op, partials, zeroValue)
})

setMethod("sumRDD", signature(x = "RDD"), function(x) {
  s <- reduce(x, `+`)
  if (is.null(s)) 0 else s
})
setMethod("sum", signature(x = "RDD"), function(x, ..., na.rm = FALSE) sumRDD(x))
setMethod("maxRDD", signature(x = "RDD"), function(x) reduce(x, max))
setMethod("minRDD", signature(x = "RDD"), function(x) reduce(x, min))

.takeRDD <- function(x, num) {
  num <- as.integer(num)
  if (is.na(num) || num <= 0L) return(list())
  limited <- lapplyPartitionsWithIndex(x, function(partIndex, part) {
    if (length(part) > num) part[seq_len(num)] else part
  })
  total <- getNumPartitions(limited)
  out <- list()
  next_id <- 0L
  batch <- 1L
  while (length(out) < num && next_id < total) {
    ids <- seq(next_id, min(total - 1L, next_id + batch - 1L))
    for (p in .collectPartitions(limited, ids)) {
      out <- c(out, p)
      if (length(out) >= num) break
    }
    next_id <- next_id + length(ids)
    batch <- batch * 4L
  }
  if (length(out) > num) out[seq_len(num)] else out
}

setMethod("take", signature(x = "RDD", num = "numeric"), function(x, num) .takeRDD(x, num))
setMethod("takeRDD", signature(x = "RDD", num = "numeric"), function(x, num) .takeRDD(x, num))

setMethod("first", signature(x = "RDD"), function(x, ...) {
  t <- .takeRDD(x, 1L)
  if (length(t) == 0L) stop("first: the RDD is empty")
  t[[1L]]
})

setMethod("cache", signature(x = "RDD"), function(x) {
  callJMethod(getJRDD(x), "cache")
  x@env$isCached <- TRUE
  x
})

setMethod("persist", signature(x = "RDD", newLevel = "character"), function(x, newLevel) {
  level <- callJStatic("org.apache.spark.storage.StorageLevel", "fromString", newLevel)
  callJMethod(getJRDD(x), "persist", level)
  x@env$isCached <- TRUE
  x
})
setMethod("persist", signature(x = "RDD", newLevel = "missing"), function(x, newLevel) {
  persist(x, "MEMORY_ONLY")
})

setMethod("unpersist", signature(x = "RDD"), function(x, ...) {
  callJMethod(getJRDD(x), "unpersist")
  x@env$isCached <- FALSE
  x
})

setMethod("foreach", signature(x = "RDD"), function(x, func) {
  invisible(.collectRDD(lapplyPartitionsWithIndex(x, function(partIndex, part) {
    for (e in part) func(e)
    list()
  })))
  invisible(NULL)
})

setMethod("foreachPartition", signature(x = "RDD"), function(x, func) {
  invisible(.collectRDD(lapplyPartitionsWithIndex(x, function(partIndex, part) {
    func(part)
    list()
  })))
  invisible(NULL)
})

# ------------------------------------------------------------ transformations

setMethod("lapplyPartitionsWithIndex", signature(X = "RDD", FUN = "function"),
          function(X, FUN) .pipelineRDD(X, FUN))
setMethod("mapPartitionsWithIndex", signature(X = "RDD", FUN = "function"),
          function(X, FUN) .pipelineRDD(X, FUN))

.lapplyPartitionRDD <- function(X, FUN) {
  .pipelineRDD(X, function(partIndex, part) FUN(part))
}
setMethod("lapplyPartition", signature(X = "RDD", FUN = "function"), .lapplyPartitionRDD)
setMethod("mapPartitions", signature(X = "RDD", FUN = "function"), .lapplyPartitionRDD)

.lapplyRDD <- function(X, FUN) {
  .pipelineRDD(X, function(partIndex, part) base::lapply(part, FUN))
}
setMethod("lapply", signature(X = "RDD", FUN = "function"), function(X, FUN, ...) {
  extra <- list(...)
  if (length(extra)) {
    f <- FUN
    FUN <- function(e) do.call(f, c(list(e), extra))
  }
  .lapplyRDD(X, FUN)
})
setMethod("map", signature(X = "RDD", FUN = "function"), function(X, FUN) .lapplyRDD(X, FUN))

setMethod("flatMap", signature(X = "RDD", FUN = "function"), function(X, FUN) {
  .pipelineRDD(X, function(partIndex, part) {
    as.list(unlist(base::lapply(part, FUN), recursive = FALSE))
  })
})

.filterRDD <- function(x, f) {
  .pipelineRDD(x, function(partIndex, part) {
    keep <- vapply(part, function(e) isTRUE(as.logical(f(e))[1L]), logical(1))
    part[keep]
  })
}
setMethod("filterRDD", signature(x = "RDD", f = "function"), .filterRDD)
setMethod("filter", signature(x = "RDD", condition = "function"), function(x, condition) {
  .filterRDD(x, condition)
})

setMethod("glom", signature(x = "RDD"), function(x) {
  .pipelineRDD(x, function(partIndex, part) list(part))
})

setMethod("unionRDD", signature(x = "RDD", y = "RDD"), function(x, y) {
  jx <- getJRDD(x)
  jy <- getJRDD(y)
  mx <- getSerializedMode(x)
  my <- getSerializedMode(y)
  if (mx != my) {
    # Bring both to R-serialized batches first.
    if (mx != "byte") jx <- getJRDD(lapplyPartitionsWithIndex(x, function(i, p) p))
    if (my != "byte") jy <- getJRDD(lapplyPartitionsWithIndex(y, function(i, p) p))
    mx <- "byte"
  }
  .newRDD(callJMethod(jx, "union", jy), mx)
})
setMethod("union", signature(x = "RDD", y = "RDD"), function(x, y) unionRDD(x, y))

setMethod("coalesce", signature(x = "RDD"), function(x, numPartitions, shuffle = FALSE, ...) {
  jrdd <- callJMethod(getJRDD(x), "coalesce", as.integer(numPartitions), isTRUE(shuffle))
  .newRDD(jrdd, getSerializedMode(x))
})

setMethod("zipWithIndex", signature(x = "RDD"), function(x) {
  sizes <- unlist(.collectRDD(lapplyPartitionsWithIndex(x, function(partIndex, part) {
    list(length(part))
  })))
  offsets <- c(0, cumsum(sizes))
  lapplyPartitionsWithIndex(x, function(partIndex, part) {
    start <- offsets[partIndex + 1L]
    base::lapply(seq_along(part), function(i) list(part[[i]], start + i - 1))
  })
})

setMethod("checkpoint", signature(x = "RDD"), function(x, eager = TRUE) {
  callJMethod(getJRDD(x), "checkpoint")
  x@env$isCheckpointed <- TRUE
  x
})
