# The SparkDataFrame API.

# ------------------------------------------------------------ schema

# Field names and types, parsed from StructType.json() (one JVM call) and
# cached on the data frame: list(names = chr, types = simpleString chr).
.fieldInfo <- function(x) {
  info <- x@env$fieldInfo
  if (is.null(info)) {
    json <- callJMethod(callJMethod(x@sdf, "schema"), "json")
    parsed <- parseJSON(json)
    fields <- parsed$fields
    info <- list(
      names = vapply(fields, function(f) f$name, ""),
      types = vapply(fields, function(f) .typeSimpleString(f$type), ""))
    x@env$fieldInfo <- info
  }
  info
}

# A StructType wrapper (SparkR's "structType" S3 class).
structTypeFromJobj <- function(jobj) {
  structure(list(jobj = jobj), class = "structType")
}

setMethod("schema", signature(x = "SparkDataFrame"), function(x) {
  structTypeFromJobj(callJMethod(x@sdf, "schema"))
})

setMethod("dtypes", signature(x = "SparkDataFrame"), function(x) {
  info <- .fieldInfo(x)
  mapply(function(n, t) c(n, t), info$names, info$types, SIMPLIFY = FALSE, USE.NAMES = FALSE)
})

setMethod("coltypes", signature(x = "SparkDataFrame"), function(x) {
  vapply(.fieldInfo(x)$types, .coltypeOf, "", USE.NAMES = FALSE)
})

setMethod("printSchema", signature(x = "SparkDataFrame"), function(x) {
  cat(callJMethod(callJMethod(x@sdf, "schema"), "treeString"))
  invisible(NULL)
})

setMethod("columns", signature(x = "SparkDataFrame"), function(x) {
  cols <- callJMethod(x@sdf, "columns")
  if (length(cols) == 0L) character(0) else as.character(unlist(cols))
})

setMethod("names", signature(x = "SparkDataFrame"), function(x) columns(x))

.renameAll <- function(x, value) {
  value <- as.character(value)
  if (length(value) != length(columns(x))) {
    stop("the number of names must equal the number of columns")
  }
  dataFrame(callJMethod(x@sdf, "toDF", as.list(value)))
}

setGeneric("columns<-", function(x, value) standardGeneric("columns<-"))
setMethod("columns<-", signature(x = "SparkDataFrame"), function(x, value) .renameAll(x, value))
setMethod("names<-", signature(x = "SparkDataFrame"), function(x, value) .renameAll(x, value))

# ------------------------------------------------------------ printing

setMethod("show", "SparkDataFrame", function(object) {
  eager <- tryCatch({
    conf <- callJMethod(getSparkSession(), "conf")
    identical(tolower(callJMethod(conf, "get", "spark.sql.repl.eagerEval.enabled", "false")),
              "true")
  }, error = function(e) FALSE)
  if (eager) {
    conf <- callJMethod(getSparkSession(), "conf")
    n <- as.integer(callJMethod(conf, "get", "spark.sql.repl.eagerEval.maxNumRows", "20"))
    t <- as.integer(callJMethod(conf, "get", "spark.sql.repl.eagerEval.truncate", "20"))
    showDF(object, numRows = n, truncate = t)
  } else {
    info <- .fieldInfo(object)
    cat("SparkDataFrame[", paste(info$names, info$types, sep = ":", collapse = ", "),
        "]\n", sep = "")
  }
  invisible(NULL)
})

setMethod("showDF", signature(x = "SparkDataFrame"),
          function(x, numRows = 20, truncate = TRUE, vertical = FALSE) {
  truncate <- if (is.logical(truncate)) {
    if (isTRUE(truncate)) 20L else 0L
  } else {
    numToInt(truncate)
  }
  s <- callJMethod(x@sdf, "showString", numToInt(numRows), truncate, isTRUE(vertical))
  cat(s)
  if (!endsWith(s, "\n")) cat("\n")
  invisible(NULL)
})

setMethod("explain", signature(x = "SparkDataFrame"), function(x, extended = FALSE) {
  qe <- callJMethod(x@sdf, "queryExecution")
  if (isTRUE(extended)) {
    cat(callJMethod(qe, "toString"), "\n")
  } else {
    cat(callJMethod(callJMethod(qe, "executedPlan"), "toString"), "\n")
  }
  invisible(NULL)
})

# ------------------------------------------------------------ collecting

.nullsTo <- function(values, na) {
  if (length(values) == 0L) return(values)
  nulls <- vapply(values, is.null, NA)
  if (any(nulls)) values[nulls] <- list(na)
  values
}

.toRColumn <- function(values, rtype) {
  if (is.atomic(values)) {
    # Already decoded column-wise (NA for nulls).
    n <- length(values)
    return(switch(rtype,
      "integer" = as.integer(values), "numeric" = as.numeric(values),
      "character" = as.character(values), "logical" = as.logical(values),
      "Date" = if (inherits(values, "Date")) values
               else structure(as.numeric(values), class = "Date"),
      "POSIXct" = if (inherits(values, "POSIXct")) values else .POSIXct(as.numeric(values)),
      if (all(is.na(values))) vector("list", n) else as.list(values)))
  }
  switch(rtype,
    "integer" = as.integer(unlist(.nullsTo(values, NA_integer_))),
    "numeric" = as.numeric(unlist(.nullsTo(values, NA_real_))),
    "character" = {
      v <- unlist(.nullsTo(values, NA_character_))
      if (is.null(v)) character(0) else as.character(v)
    },
    "logical" = as.logical(unlist(.nullsTo(values, NA))),
    "Date" = structure(as.numeric(unlist(.nullsTo(values, NA_real_))), class = "Date"),
    "POSIXct" = .POSIXct(as.numeric(unlist(.nullsTo(values, NA_real_)))),
    values)
}

# Bulk transfer of a result: the rows are serialized on the executors
# (SQLUtils.dfToRowRDD, R's SerDe layout), collected, and written by the JVM
# into one byte[] (length-prefixed rows), which R reads with one read and
# decodes a column at a time.  Falls back to SQLUtils.dfToCols (one typed
# value per read) if anything in that path is unavailable.
.collectRowBytes <- function(sdf) {
  # The intermediate JVM objects hold the whole result: release them as
  # soon as the bytes are here rather than whenever R collects garbage.
  refs <- list()
  on.exit(for (r in refs) try(releaseJobj(r), silent = TRUE))
  keep <- function(j) {
    if (inherits(j, "jobj")) refs[[length(refs) + 1L]] <<- j
    j
  }
  rowRDD <- keep(callJStatic(.sqlUtils, "dfToRowRDD", sdf))
  rows <- keep(callJMethod(rowRDD, "collect"))
  if (!inherits(rows, "jobj")) stop("unexpected collect() result")
  jit <- keep(callJMethod(rows, "iterator"))
  conv <- keep(callJStatic("scala.collection.JavaConverters", "asScalaIteratorConverter", jit))
  it <- keep(callJMethod(conv, "asScala"))
  bos <- keep(newJObject("java.io.ByteArrayOutputStream"))
  dos <- keep(newJObject("java.io.DataOutputStream", bos))
  callJStatic("org.apache.spark.api.python.PythonRDD", "writeIteratorToStream", it, dos)
  callJMethod(dos, "flush")
  callJMethod(bos, "toByteArray")
}

.beInts <- function(buf, at) {
  if (length(at) == 0L) return(integer(0))
  readBin(buf[rep(at, each = 4L) + 0:3], integer(), n = length(at), size = 4L, endian = "big")
}

.beDoubles <- function(buf, at) {
  if (length(at) == 0L) return(double(0))
  readBin(buf[rep(at, each = 8L) + 0:7], double(), n = length(at), size = 8L, endian = "big")
}

.rowStarts <- function(buf) {
  n <- length(buf)
  starts <- integer(1024L)
  k <- 0L
  pos <- 1L
  while (pos <= n) {
    len <- readBin(buf[pos:(pos + 3L)], integer(), n = 1L, size = 4L, endian = "big")
    k <- k + 1L
    if (k > length(starts)) length(starts) <- 2L * length(starts)
    starts[k] <- pos + 4L
    pos <- pos + 4L + len
  }
  starts[seq_len(k)]
}

# Decodes length-prefixed rows ('l', count, typed fields) into columns:
# atomic vectors (NA for null) when a column holds one simple type, else
# lists (NULL for null).
.decodeRowBytes <- function(buf, ncols) {
  starts <- .rowStarts(buf)
  n <- length(starts)
  p <- starts + 5L
  rawCon <- NULL
  on.exit(if (!is.null(rawCon)) close(rawCon))
  cols <- vector("list", ncols)
  codes <- vapply(c("n", "i", "d", "b", "c", "D", "t"), function(ch) charToRaw(ch), raw(1))
  for (j in seq_len(ncols)) {
    t <- buf[p]
    simple <- t %in% codes
    kinds <- unique(t[t != codes[["n"]]])
    atomicKind <- length(kinds) <= 1L && all(simple)
    col <- if (atomicKind) {
      switch(if (length(kinds)) rawToChar(kinds) else "n",
        "i" = rep(NA_integer_, n), "d" = rep(NA_real_, n), "b" = rep(NA, n),
        "c" = rep(NA_character_, n),
        "D" = structure(rep(NA_real_, n), class = "Date"),
        "t" = .POSIXct(rep(NA_real_, n)),
        "n" = rep(NA, n))
    } else {
      vector("list", n)
    }
    put <- function(idx, values) {
      if (atomicKind) col[idx] <<- values
      else col[idx] <<- if (is.list(values)) values else as.list(values)
    }
    nulls <- which(t == codes[["n"]])
    p[nulls] <- p[nulls] + 1L
    for (code in c("i", "b")) {
      idx <- which(t == codes[[code]])
      if (length(idx)) {
        v <- .beInts(buf, p[idx] + 1L)
        put(idx, if (code == "b") v != 0L else v)
        p[idx] <- p[idx] + 5L
      }
    }
    for (code in c("d", "t")) {
      idx <- which(t == codes[[code]])
      if (length(idx)) {
        v <- .beDoubles(buf, p[idx] + 1L)
        put(idx, if (code == "t") .POSIXct(v) else v)
        p[idx] <- p[idx] + 9L
      }
    }
    for (code in c("c", "D")) {
      idx <- which(t == codes[[code]])
      if (length(idx)) {
        lens <- .beInts(buf, p[idx] + 1L)
        from <- p[idx] + 5L
        v <- vapply(seq_along(idx), function(q) {
          if (lens[q] == 0L) "" else rawToChar(buf[from[q]:(from[q] + lens[q] - 1L)])
        }, "")
        Encoding(v) <- "UTF-8"
        put(idx, if (code == "D") as.Date(v) else v)
        p[idx] <- from + lens
      }
    }
    other <- which(!simple)
    if (length(other)) {
      if (is.null(rawCon)) rawCon <- rawConnection(buf, "rb")
      for (q in other) {
        seek(rawCon, where = p[q] - 1L)
        v <- readObject(rawCon)
        if (!is.null(v)) col[q] <- list(v)
        p[q] <- seek(rawCon) + 1L
      }
    }
    cols[[j]] <- col
  }
  cols
}

.collectColumns <- function(x, ncols) {
  fast <- tryCatch({
    bytes <- .collectRowBytes(x@sdf)
    list(ok = TRUE, cols = .decodeRowBytes(bytes, ncols))
  }, error = function(e) list(ok = FALSE, error = e))
  if (isTRUE(fast$ok)) {
    .sparkREnv$lastCollectPath <- "bulk"
    return(fast$cols)
  }
  .sparkREnv$lastCollectPath <- "per-value"
  callJStatic(.sqlUtils, "dfToCols", x@sdf)
}

setMethod("collect", signature(x = "SparkDataFrame"), function(x, stringsAsFactors = FALSE) {
  info <- .fieldInfo(x)
  ncols <- length(info$names)
  if (ncols == 0L) return(data.frame())
  cols <- .collectColumns(x, ncols)
  nrows <- if (length(cols)) length(cols[[1]]) else 0L
  out <- vector("list", ncols)
  for (i in seq_len(ncols)) {
    values <- if (i <= length(cols)) cols[[i]] else list()
    v <- .toRColumn(values, .rTypeOf(info$types[i]))
    if (isTRUE(stringsAsFactors) && is.character(v)) v <- factor(v)
    out[[i]] <- v
  }
  structure(out, names = info$names, class = "data.frame",
            row.names = .set_row_names(nrows))
})

setMethod("limit", signature(x = "SparkDataFrame", num = "numeric"), function(x, num) {
  dataFrame(callJMethod(x@sdf, "limit", numToInt(num)))
})

setMethod("take", signature(x = "SparkDataFrame", num = "numeric"), function(x, num) {
  collect(limit(x, num))
})

setMethod("head", signature(x = "SparkDataFrame"), function(x, num = 6L, n) {
  if (!missing(n)) num <- n
  take(x, num)
})

setMethod("first", signature(x = "SparkDataFrame"), function(x) take(x, 1L))

setMethod("count", signature(x = "SparkDataFrame"), function(x) {
  callJMethod(x@sdf, "count")
})

setMethod("nrow", signature(x = "SparkDataFrame"), function(x) count(x))
setMethod("ncol", signature(x = "SparkDataFrame"), function(x) length(columns(x)))
setMethod("dim", signature(x = "SparkDataFrame"), function(x) c(count(x), ncol(x)))

setMethod("isLocal", signature(x = "SparkDataFrame"), function(x) {
  callJMethod(x@sdf, "isLocal")
})

# ------------------------------------------------------------ columns

.toJCols <- function(cols) {
  lapply(cols, function(c) {
    if (is(c, "Column")) c@jc
    else if (is.character(c) && length(c) == 1L) column(c)@jc
    else stop("expected a column name or a Column, got ", class(c)[1])
  })
}

.flattenCols <- function(col, ...) {
  cols <- c(if (is.list(col)) col else if (is.character(col)) as.list(col) else list(col),
            list(...))
  out <- list()
  for (c in cols) {
    if (is.character(c)) out <- c(out, as.list(c)) else out <- c(out, list(c))
  }
  out
}

setMethod("$", signature(x = "SparkDataFrame"), function(x, name) {
  column(callJMethod(x@sdf, "col", name))
})

setMethod("$<-", signature(x = "SparkDataFrame"), function(x, name, value) {
  if (is.null(value)) return(dataFrame(callJMethod(x@sdf, "drop", name)))
  withColumn(x, name, value)
})

setMethod("[[", signature(x = "SparkDataFrame", i = "numericOrcharacter"),
          function(x, i) {
  if (length(i) != 1L) stop("[[ expects a single column name or index")
  if (is.numeric(i)) i <- columns(x)[[i]]
  column(callJMethod(x@sdf, "col", i))
})

setMethod("[[<-", signature(x = "SparkDataFrame", i = "numericOrcharacter"),
          function(x, i, value) {
  if (is.numeric(i)) i <- columns(x)[[i]]
  if (is.null(value)) return(dataFrame(callJMethod(x@sdf, "drop", i)))
  withColumn(x, i, value)
})

setMethod("[", signature(x = "SparkDataFrame"), function(x, i, j, ..., drop = FALSE) {
  if (!missing(i) && !is.null(i)) {
    if (is(i, "Column") || is.character(i)) x <- filter(x, i)
    else stop("rows can only be selected with a Column condition")
  }
  if (!missing(j) && !is.null(j)) {
    if (is.numeric(j)) j <- columns(x)[j]
    x <- select(x, .flattenCols(j))
  }
  x
})

setMethod("select", signature(x = "SparkDataFrame", col = "character"),
          function(x, col, ...) {
  dataFrame(callJMethod(x@sdf, "select", .toJCols(.flattenCols(col, ...))))
})

setMethod("select", signature(x = "SparkDataFrame", col = "Column"),
          function(x, col, ...) {
  dataFrame(callJMethod(x@sdf, "select", .toJCols(.flattenCols(col, ...))))
})

setMethod("select", signature(x = "SparkDataFrame", col = "list"),
          function(x, col) {
  dataFrame(callJMethod(x@sdf, "select", .toJCols(.flattenCols(col))))
})

setMethod("selectExpr", signature(x = "SparkDataFrame", expr = "character"),
          function(x, expr, ...) {
  exprs <- as.list(c(expr, unlist(list(...))))
  dataFrame(callJMethod(x@sdf, "selectExpr", exprs))
})

setMethod("withColumn", signature(x = "SparkDataFrame", colName = "character"),
          function(x, colName, col) {
  if (!is(col, "Column")) col <- lit(col)
  dataFrame(callJMethod(x@sdf, "withColumn", colName, col@jc))
})

setMethod("mutate", signature(.data = "SparkDataFrame"), function(.data, ...) {
  cols <- list(...)
  nms <- names(cols)
  if (is.null(nms) || any(!nzchar(nms))) stop("mutate arguments must be named")
  x <- .data
  for (n in nms) x <- withColumn(x, n, cols[[n]])
  x
})

setMethod("withColumnRenamed",
          signature(x = "SparkDataFrame", existingCol = "character", newCol = "character"),
          function(x, existingCol, newCol) {
  dataFrame(callJMethod(x@sdf, "withColumnRenamed", existingCol, newCol))
})

setMethod("rename", signature(x = "SparkDataFrame"), function(x, ...) {
  renames <- list(...)
  nms <- names(renames)
  if (is.null(nms) || any(!nzchar(nms))) stop("rename arguments must be named: new = old")
  for (n in nms) {
    old <- renames[[n]]
    oldName <- if (is(old, "Column")) callJMethod(old@jc, "toString") else as.character(old)
    x <- withColumnRenamed(x, oldName, n)
  }
  x
})

# ------------------------------------------------------------ rows

setMethod("filter", signature(x = "SparkDataFrame", condition = "characterOrColumn"),
          function(x, condition) {
  cond <- if (is(condition, "Column")) condition@jc else condition
  dataFrame(callJMethod(x@sdf, "filter", cond))
})

setMethod("where", signature(x = "SparkDataFrame", condition = "characterOrColumn"),
          function(x, condition) filter(x, condition))

setMethod("distinct", signature(x = "SparkDataFrame"), function(x) {
  dataFrame(callJMethod(x@sdf, "distinct"))
})

setMethod("unique", signature(x = "SparkDataFrame"), function(x, incomparables = FALSE, ...) {
  distinct(x)
})

setMethod("dropDuplicates", signature(x = "SparkDataFrame"), function(x, ...) {
  cols <- unlist(list(...))
  if (length(cols) == 0L) dataFrame(callJMethod(x@sdf, "dropDuplicates"))
  else dataFrame(callJMethod(x@sdf, "dropDuplicates", as.list(as.character(cols))))
})

.sortCols <- function(cols, decreasing) {
  decreasing <- rep_len(decreasing, length(cols))
  mapply(function(c, d) {
    if (is.character(c)) c <- column(c)
    if (isTRUE(d)) desc(c) else c
  }, cols, decreasing, SIMPLIFY = FALSE)
}

setMethod("arrange", signature(x = "SparkDataFrame", col = "characterOrColumn"),
          function(x, col, ..., decreasing = FALSE) {
  cols <- .flattenCols(col, ...)
  if (is.character(col) || isTRUE(any(decreasing))) {
    cols <- .sortCols(cols, decreasing)
  }
  dataFrame(callJMethod(x@sdf, "sort", .toJCols(cols)))
})

setMethod("orderBy", signature(x = "SparkDataFrame", col = "characterOrColumn"),
          function(x, col, ...) arrange(x, col, ...))

setMethod("union", signature(x = "SparkDataFrame", y = "SparkDataFrame"), function(x, y) {
  dataFrame(callJMethod(x@sdf, "union", y@sdf))
})

setMethod("unionAll", signature(x = "SparkDataFrame", y = "SparkDataFrame"), function(x, y) {
  union(x, y)
})

setMethod("unionByName", signature(x = "SparkDataFrame", y = "SparkDataFrame"),
          function(x, y, allowMissingColumns = FALSE) {
  dataFrame(callJMethod(x@sdf, "unionByName", y@sdf, isTRUE(allowMissingColumns)))
})

setMethod("join", signature(x = "SparkDataFrame", y = "SparkDataFrame"),
          function(x, y, joinExpr = NULL, joinType = NULL) {
  if (is.null(joinExpr)) {
    sdf <- callJMethod(x@sdf, "join", y@sdf)
  } else if (is(joinExpr, "Column")) {
    sdf <- if (is.null(joinType)) callJMethod(x@sdf, "join", y@sdf, joinExpr@jc)
           else callJMethod(x@sdf, "join", y@sdf, joinExpr@jc, joinType)
  } else if (is.character(joinExpr)) {
    sdf <- callJMethod(x@sdf, "join", y@sdf, as.list(joinExpr),
                       if (is.null(joinType)) "inner" else joinType)
  } else {
    stop("joinExpr must be a Column, column names or NULL")
  }
  dataFrame(sdf)
})

setMethod("crossJoin", signature(x = "SparkDataFrame", y = "SparkDataFrame"), function(x, y) {
  dataFrame(callJMethod(x@sdf, "crossJoin", y@sdf))
})

setMethod("merge", signature(x = "SparkDataFrame", y = "SparkDataFrame"),
          function(x, y, by = intersect(names(x), names(y)), ...) {
  join(x, y, as.character(by), "inner")
})

setMethod("dropna", signature(x = "SparkDataFrame"),
          function(x, how = c("any", "all"), minNonNulls = NULL, cols = NULL) {
  how <- match.arg(how)
  if (is.null(cols)) cols <- columns(x)
  if (is.null(minNonNulls)) minNonNulls <- if (how == "any") length(cols) else 1L
  na <- callJMethod(x@sdf, "na")
  dataFrame(callJMethod(na, "drop", as.integer(minNonNulls), as.list(cols)))
})

setMethod("fillna", signature(x = "SparkDataFrame"), function(x, value, cols = NULL) {
  na <- callJMethod(x@sdf, "na")
  if (is.list(value)) {
    env <- convertNamedListToEnv(lapply(value, function(v) {
      if (is.integer(v)) as.numeric(v) else v
    }))
    return(dataFrame(callJMethod(na, "fill", env)))
  }
  if (is.integer(value)) value <- as.numeric(value)
  sdf <- if (is.null(cols)) callJMethod(na, "fill", value)
         else callJMethod(na, "fill", value, as.list(as.character(cols)))
  dataFrame(sdf)
})

# ------------------------------------------------------------ grouping

setMethod("groupBy", signature(x = "SparkDataFrame"), function(x, ...) {
  cols <- list(...)
  if (length(cols) == 1L && is.character(cols[[1]]) && length(cols[[1]]) > 1L) {
    cols <- as.list(cols[[1]])
  }
  groupedData(callJMethod(x@sdf, "groupBy", .toJCols(cols)))
})

setMethod("group_by", signature(x = "SparkDataFrame"), function(x, ...) groupBy(x, ...))

setMethod("agg", signature(x = "SparkDataFrame"), function(x, ...) {
  agg(groupBy(x), ...)
})

setMethod("summarize", signature(x = "SparkDataFrame"), function(x, ...) agg(x, ...))

setMethod("describe", signature(x = "SparkDataFrame"), function(x, col, ...) {
  cols <- if (missing(col)) list() else as.list(c(col, unlist(list(...))))
  dataFrame(callJMethod(x@sdf, "describe", cols))
})

setMethod("summary", signature(object = "SparkDataFrame"), function(object, ...) {
  stats <- unlist(list(...))
  dataFrame(callJMethod(object@sdf, "summary",
                        if (length(stats)) as.list(stats) else list()))
})

# ------------------------------------------------------------ views, caching

setMethod("createOrReplaceTempView",
          signature(x = "SparkDataFrame", viewName = "character"),
          function(x, viewName) {
  invisible(callJMethod(x@sdf, "createOrReplaceTempView", viewName))
})

setMethod("createTempView", signature(x = "SparkDataFrame", viewName = "character"),
          function(x, viewName) {
  invisible(callJMethod(x@sdf, "createTempView", viewName))
})

setMethod("registerTempTable", signature(x = "SparkDataFrame", tableName = "character"),
          function(x, tableName) {
  invisible(callJMethod(x@sdf, "createOrReplaceTempView", tableName))
})

setMethod("toJSON", signature(x = "SparkDataFrame"), function(x) {
  # toJSON gives a Dataset[String]; toDF makes it a DataFrame ("value").
  dataFrame(callJMethod(callJMethod(x@sdf, "toJSON"), "toDF"))
})

setMethod("cache", signature(x = "SparkDataFrame"), function(x) {
  callJMethod(x@sdf, "cache")
  x@env$isCached <- TRUE
  x
})

setMethod("persist", signature(x = "SparkDataFrame", newLevel = "character"),
          function(x, newLevel) {
  level <- callJStatic("org.apache.spark.storage.StorageLevel", "fromString", newLevel)
  callJMethod(x@sdf, "persist", level)
  x@env$isCached <- TRUE
  x
})

setMethod("unpersist", signature(x = "SparkDataFrame"), function(x, blocking = TRUE) {
  callJMethod(x@sdf, "unpersist", isTRUE(blocking))
  x@env$isCached <- FALSE
  x
})

setMethod("storageLevel", signature(x = "SparkDataFrame"), function(x) {
  callJMethod(callJMethod(x@sdf, "storageLevel"), "toString")
})

setMethod("getNumPartitions", signature(x = "SparkDataFrame"), function(x) {
  callJMethod(callJMethod(x@sdf, "rdd"), "getNumPartitions")
})

setMethod("repartition", signature(x = "SparkDataFrame"),
          function(x, numPartitions = NULL, col = NULL, ...) {
  cols <- if (is.null(col)) list() else .toJCols(.flattenCols(col, ...))
  if (!is.null(numPartitions)) {
    n <- numToInt(numPartitions)
    sdf <- if (length(cols)) callJMethod(x@sdf, "repartition", n, cols)
           else callJMethod(x@sdf, "repartition", n)
  } else if (length(cols)) {
    sdf <- callJMethod(x@sdf, "repartition", cols)
  } else {
    stop("repartition needs numPartitions or columns")
  }
  dataFrame(sdf)
})

setMethod("coalesce", signature(x = "SparkDataFrame"), function(x, numPartitions) {
  dataFrame(callJMethod(x@sdf, "coalesce", numToInt(numPartitions)))
})

setMethod("checkpoint", signature(x = "SparkDataFrame"), function(x, eager = TRUE) {
  dataFrame(callJMethod(x@sdf, "checkpoint", isTRUE(eager)))
})

setMethod("localCheckpoint", signature(x = "SparkDataFrame"), function(x, eager = TRUE) {
  dataFrame(callJMethod(x@sdf, "localCheckpoint", isTRUE(eager)))
})

setMethod("alias", signature(object = "SparkDataFrame"), function(object, data) {
  dataFrame(callJMethod(object@sdf, "alias", data))
})

setMethod("as.data.frame", signature(x = "SparkDataFrame"),
          function(x, row.names = NULL, optional = FALSE, ...) {
  collect(x, ...)
})

setMethod("str", signature(object = "SparkDataFrame"), function(object, ...) {
  info <- .fieldInfo(object)
  cat("'SparkDataFrame':", length(info$names), "variables:\n")
  for (i in seq_along(info$names)) {
    cat(" $ ", info$names[i], ": ", info$types[i], "\n", sep = "")
  }
  invisible(NULL)
})
