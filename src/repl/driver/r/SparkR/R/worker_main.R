# The R side of org.apache.spark.api.r.RRunner: what an executor's R worker
# does for one task, and the daemon that forks such workers.
#
# Per task the JVM listens on a local port (SPARKR_WORKER_PORT); the worker
# opens two connections to it, each authenticated with SPARKR_WORKER_SECRET
# (a SerDe string; the JVM answers "ok"): the first carries the task's input
# to R, the second R's output back.
#
# Input: int partition index; string deserializer and serializer ("byte",
# "string" or "row"); int length + R-serialized character vector of package
# names; int length + R-serialized function; int count of broadcasts, each
# int id + int length + R-serialized value; int number of partitions (-1
# unless hashing for a shuffle); int mode (0 RDD, 1 dapply, 2 gapply); for
# modes 1 and 2 the column names as a typed object; int 0 when the partition
# is empty, else 1; then the elements until the stream ends:
#   byte:   int length + bytes, each an R-serialized batch;
#   string: one line per element;
#   row:    typed list objects (one per row); in gapply mode each group's
#           rows are followed by the byte 'r' and the group's key row.
# Output: per result an int length (> 0) + bytes (R-serialized object, a
# NUL-terminated string, or a row: int field count + typed fields); then -1
# and six doubles (boot time in epoch seconds, then the seconds spent in
# init, broadcast, reading input, computing and writing output); then 0.

.workerTimeout <- function() {
  t <- suppressWarnings(as.numeric(Sys.getenv("SPARKR_BACKEND_CONNECTION_TIMEOUT", "6000")))
  if (is.na(t) || t <= 0) 6000 else t
}

# Values of broadcast variables, by id (as character), on the workers.
.broadcastValues <- new.env(parent = emptyenv())

.workerConnect <- function(port, secret, timeout = .workerTimeout()) {
  con <- socketConnection(host = "localhost", port = as.integer(port), server = FALSE,
                          blocking = TRUE, open = "r+b", timeout = timeout)
  reply <- tryCatch({
    writeString(con, secret)
    flush(con)
    readString(con)
  }, error = function(e) conditionMessage(e))
  if (!identical(reply, "ok")) {
    close(con)
    stop("R worker: authentication with the executor failed (", reply, ")")
  }
  con
}

# Everything left on a connection, as one raw vector.
.readAllRaw <- function(con, chunk = 1048576L) {
  parts <- list()
  repeat {
    b <- readBin(con, raw(), n = chunk)
    if (length(b) == 0L) break
    parts[[length(parts) + 1L]] <- b
  }
  if (length(parts) == 1L) parts[[1L]] else unlist(parts, use.names = FALSE)
}

.rawInt <- function(buf, pos) {
  readBin(buf[pos:(pos + 3L)], integer(), n = 1L, size = 4L, endian = "big")
}

# Splits a stream of (int length, bytes) records; returns the byte vectors.
.splitLengthPrefixed <- function(buf) {
  out <- list()
  pos <- 1L
  n <- length(buf)
  while (pos + 3L <= n) {
    len <- .rawInt(buf, pos)
    pos <- pos + 4L
    if (len < 0L || pos + len - 1L > n) stop("R worker: truncated input record")
    out[[length(out) + 1L]] <- if (len > 0L) buf[pos:(pos + len - 1L)] else raw(0)
    pos <- pos + len
  }
  out
}

# The elements of an RDD partition from R-serialized batches.
.unserializeBatches <- function(records) {
  batches <- base::lapply(records, unserialize)
  if (length(batches) == 1L) batches[[1L]] else unlist(batches, recursive = FALSE)
}

# Rows (typed lists) from a raw buffer.  With keys = TRUE, the byte 'r'
# separates groups and introduces the group's key row.
.parseRows <- function(buf, keys = FALSE) {
  con <- rawConnection(buf, "rb")
  on.exit(close(con))
  rows <- list()
  groups <- list()
  repeat {
    t <- readBin(con, raw(), n = 1L)
    if (length(t) == 0L) break
    type <- rawToChar(t)
    if (keys && type == "r") {
      key <- readObject(con)
      groups[[length(groups) + 1L]] <- list(key = key, rows = rows)
      rows <- list()
    } else {
      rows[[length(rows) + 1L]] <- readTypedObject(con, type)
    }
  }
  if (keys) groups else rows
}

# A data.frame from rows given as lists of field values.
.rowsToDataFrame <- function(rows, colNames) {
  colNames <- as.character(unlist(colNames))
  ncols <- length(colNames)
  n <- length(rows)
  cols <- base::lapply(seq_len(ncols), function(j) {
    vals <- base::lapply(rows, function(r) if (j <= length(r)) r[[j]] else NULL)
    isNull <- vapply(vals, is.null, logical(1))
    if (all(isNull)) return(rep(NA, n))
    proto <- vals[[which(!isNull)[1L]]]
    scalar <- vapply(vals, function(v) is.null(v) || (is.atomic(v) && length(v) == 1L),
                     logical(1))
    if (all(scalar) && is.atomic(proto)) {
      naValue <- proto[NA_integer_]
      vals[isNull] <- list(naValue)
      do.call(c, unname(vals))
    } else {
      I(vals)
    }
  })
  names(cols) <- colNames
  structure(cols, names = colNames, row.names = .set_row_names(n), class = "data.frame")
}

.emptyDataFrame <- function(colNames) {
  colNames <- as.character(unlist(colNames))
  cols <- rep(list(logical(0)), length(colNames))
  structure(cols, names = colNames, row.names = integer(0), class = "data.frame")
}

# Encodes a data.frame's rows as (int length, row bytes) records.
.encodeRowRecords <- function(df) {
  if (!is.data.frame(df)) {
    stop("the function must return a data.frame when an output schema is given, not ",
         class(df)[1L])
  }
  if (nrow(df) == 0L) return(raw(0))
  df <- as.list(df)
  df <- base::lapply(df, function(col) if (is.factor(col)) as.character(col) else col)
  rows <- if (exists(".serializeRows", mode = "function")) {
    .serializeRows(structure(df, row.names = .set_row_names(length(df[[1L]])),
                             class = "data.frame"))
  } else {
    n <- length(df[[1L]])
    base::lapply(seq_len(n), function(i) {
      con <- rawConnection(raw(0), "wb")
      on.exit(close(con))
      writeInt(con, length(df))
      for (col in df) {
        v <- if (is.list(col)) col[[i]] else col[i]
        if (is.atomic(v) && length(v) == 1L && is.na(v)) v <- NULL
        writeObject(con, v)
      }
      rawConnectionValue(con)
    })
  }
  unlist(base::lapply(rows, function(r) {
    c(writeBin(length(r), raw(), size = 4L, endian = "big"), r)
  }), use.names = FALSE)
}

.encodeRawRecord <- function(bytes) {
  c(writeBin(length(bytes), raw(), size = 4L, endian = "big"), bytes)
}

.encodeStringRecords <- function(output) {
  vals <- if (is.list(output)) base::lapply(output, as.character) else as.character(output)
  unlist(base::lapply(unlist(vals), function(s) {
    b <- c(charToRaw(enc2utf8(s)), as.raw(0L))
    c(writeBin(length(b), raw(), size = 4L, endian = "big"), b)
  }), use.names = FALSE)
}

.encodeOutput <- function(serializer, output) {
  switch(serializer,
    "byte" = .encodeRawRecord(serialize(output, connection = NULL)),
    "row" = .encodeRowRecords(output),
    "string" = .encodeStringRecords(output),
    stop("R worker: unknown serializer ", serializer))
}

# The input of a dapply/gapply call as one data.frame.
.inputDataFrame <- function(deserializer, data, colNames) {
  if (deserializer == "row") {
    if (length(data) == 0L) .emptyDataFrame(colNames) else .rowsToDataFrame(data, colNames)
  } else {
    frames <- base::lapply(data, function(d) if (is.raw(d)) unserialize(d) else d)
    if (length(frames) == 1L) frames[[1L]] else do.call(rbind, frames)
  }
}

.formatWorkerError <- function(e) {
  call <- conditionCall(e)
  msg <- conditionMessage(e)
  if (is.null(call)) {
    paste0("Error: ", msg)
  } else {
    paste0("Error in ", paste(deparse(call, nlines = 1L), collapse = " "), " : ", msg)
  }
}

# Runs one task.  Returns TRUE on success; on failure prints the R error on
# stderr (which the executor's log and the task's error message carry) and
# returns FALSE without writing the end-of-stream marker.
.workerMain <- function(port = Sys.getenv("SPARKR_WORKER_PORT"),
                        secret = Sys.getenv("SPARKR_WORKER_SECRET")) {
  bootTime <- as.numeric(Sys.time())
  bootElap <- proc.time()[["elapsed"]]
  inputCon <- NULL
  outputCon <- NULL
  closeAll <- function() {
    if (!is.null(outputCon)) try(close(outputCon), silent = TRUE)
    if (!is.null(inputCon)) try(close(inputCon), silent = TRUE)
    outputCon <<- NULL
    inputCon <<- NULL
  }
  ok <- tryCatch({
    inputCon <- .workerConnect(port, secret)
    outputCon <- .workerConnect(port, secret)

    partition <- readInt(inputCon)
    deserializer <- readString(inputCon)
    serializer <- readString(inputCon)
    packageNames <- unserialize(readRaw(inputCon))
    for (pkg in packageNames) {
      suppressPackageStartupMessages(library(as.character(pkg), character.only = TRUE))
    }
    computeFunc <- unserialize(readRaw(inputCon))
    initElap <- proc.time()[["elapsed"]]

    numBroadcasts <- readInt(inputCon)
    for (i in seq_len(numBroadcasts)) {
      id <- readInt(inputCon)
      assign(as.character(id), unserialize(readRaw(inputCon)), envir = .broadcastValues)
    }
    broadcastElap <- proc.time()[["elapsed"]]

    numPartitions <- readInt(inputCon)
    mode <- readInt(inputCon)
    colNames <- if (mode > 0L) readObject(inputCon) else NULL
    isEmpty <- readInt(inputCon)

    inputElap <- broadcastElap
    computeSecs <- 0
    outputSecs <- 0
    if (isEmpty != 0L) {
      buf <- .readAllRaw(inputCon)
      data <- switch(deserializer,
        "byte" = {
          recs <- .splitLengthPrefixed(buf)
          if (mode == 0L) .unserializeBatches(recs) else recs
        },
        "string" = {
          s <- rawToChar(buf)
          Encoding(s) <- "UTF-8"
          lines <- strsplit(s, "\r?\n")[[1L]]
          as.list(lines)
        },
        "row" = .parseRows(buf, keys = (mode == 2L)),
        stop("R worker: unknown deserializer ", deserializer))
      rm(buf)
      inputElap <- proc.time()[["elapsed"]]

      if (numPartitions != -1L) {
        stop("R worker: shuffles by R hash (numPartitions = ", numPartitions,
             ") are not supported")
      }
      if (mode == 2L) {
        for (g in data) {
          t0 <- proc.time()[["elapsed"]]
          df <- .inputDataFrame(deserializer, g$rows, colNames)
          output <- computeFunc(g$key, df)
          t1 <- proc.time()[["elapsed"]]
          writeBin(.encodeOutput(serializer, output), outputCon)
          t2 <- proc.time()[["elapsed"]]
          computeSecs <- computeSecs + (t1 - t0)
          outputSecs <- outputSecs + (t2 - t1)
        }
      } else {
        t0 <- proc.time()[["elapsed"]]
        output <- if (mode == 1L) {
          computeFunc(.inputDataFrame(deserializer, data, colNames))
        } else {
          computeFunc(partition, data)
        }
        t1 <- proc.time()[["elapsed"]]
        writeBin(.encodeOutput(serializer, output), outputCon)
        t2 <- proc.time()[["elapsed"]]
        computeSecs <- t1 - t0
        outputSecs <- t2 - t1
      }
    } else {
      inputElap <- proc.time()[["elapsed"]]
    }

    writeInt(outputCon, -1L)
    writeDouble(outputCon, bootTime)
    writeDouble(outputCon, initElap - bootElap)
    writeDouble(outputCon, broadcastElap - initElap)
    writeDouble(outputCon, inputElap - broadcastElap)
    writeDouble(outputCon, computeSecs)
    writeDouble(outputCon, outputSecs)
    writeInt(outputCon, 0L)
    flush(outputCon)
    TRUE
  }, error = function(e) {
    cat(.formatWorkerError(e), "\n", sep = "", file = stderr())
    flush(stderr())
    # Give the executor's log reader time to see the message before the
    # connection drops (the task's error message quotes that log).
    Sys.sleep(1)
    FALSE
  })
  try(flush(stdout()), silent = TRUE)
  closeAll()
  ok
}

# The daemon: one per executor, forks a worker per task.
.daemonMain <- function(port = Sys.getenv("SPARKR_WORKER_PORT"),
                        secret = Sys.getenv("SPARKR_WORKER_SECRET")) {
  con <- .workerConnect(port, secret)
  misses <- 0L
  repeat {
    ready <- tryCatch(socketSelect(list(con), timeout = NULL), error = function(e) FALSE)
    if (!isTRUE(ready)) next
    taskPort <- readInt(con)
    if (length(taskPort) == 0L) {
      # An interrupted read, or the executor went away.
      misses <- misses + 1L
      if (misses >= 3L) break
      next
    }
    misses <- 0L
    flush(stdout())
    flush(stderr())
    # A detached child: it runs the task, then exits (mcparallel calls
    # mcexit); R reaps detached children itself.
    parallel::mcparallel({
      try(close(con), silent = TRUE)
      .workerMain(taskPort, secret)
      try(flush(stdout()), silent = TRUE)
      try(flush(stderr()), silent = TRUE)
      invisible(NULL)
    }, detached = TRUE)
  }
  try(close(con), silent = TRUE)
  invisible(NULL)
}

# ------------------------------------------------------------ broadcasts

broadcast <- function(sc, object) {
  if (missing(sc) || is.null(sc)) sc <- .rddDefaultSC()
  jbroadcast <- callJMethod(sc, "broadcast", serialize(object, connection = NULL))
  id <- as.character(callJMethod(jbroadcast, "id"))
  assign(id, object, envir = .broadcastValues)
  if (is.null(.sparkREnv[[".broadcasts"]])) .sparkREnv[[".broadcasts"]] <- list()
  .sparkREnv[[".broadcasts"]][[id]] <- jbroadcast
  structure(list(id = id), class = "Broadcast")
}

value <- function(bcast) {
  if (!inherits(bcast, "Broadcast")) stop("value() expects a Broadcast")
  if (!exists(bcast$id, envir = .broadcastValues, inherits = FALSE)) {
    stop("broadcast ", bcast$id, " has no value here")
  }
  get(bcast$id, envir = .broadcastValues, inherits = FALSE)
}

print.Broadcast <- function(x, ...) {
  cat("Broadcast", x$id, "\n")
  invisible(x)
}
