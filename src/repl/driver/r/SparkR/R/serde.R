# Serialization between R and the JVM, following the byte layout of
# org.apache.spark.api.r.SerDe (big-endian, one type byte before a value).
#
# R -> JVM strings carry a trailing NUL that the length counts; JVM -> R
# strings do not (older JVMs did: a trailing NUL is dropped if present).

# ---------------------------------------------------------------- reading

readInt <- function(con) {
  readBin(con, integer(), n = 1L, size = 4L, endian = "big")
}

readDouble <- function(con) {
  readBin(con, double(), n = 1L, size = 8L, endian = "big")
}

readBoolean <- function(con) {
  as.logical(readInt(con))
}

.rawToUtf8 <- function(bytes) {
  n <- length(bytes)
  if (n > 0L && bytes[n] == as.raw(0L)) bytes <- bytes[-n]
  s <- rawToChar(bytes)
  Encoding(s) <- "UTF-8"
  s
}

readStringOfLength <- function(con, len) {
  if (len <= 0L) return("")
  bytes <- readBin(con, raw(), n = len, endian = "big")
  while (length(bytes) < len) {
    more <- readBin(con, raw(), n = len - length(bytes), endian = "big")
    if (length(more) == 0L) stop("connection closed while reading a string")
    bytes <- c(bytes, more)
  }
  .rawToUtf8(bytes)
}

readString <- function(con) {
  len <- readInt(con)
  if (length(len) == 0L) stop("connection closed while reading a string")
  readStringOfLength(con, len)
}

readRaw <- function(con) {
  len <- readInt(con)
  if (len == 0L) return(raw(0))
  bytes <- readBin(con, raw(), n = len, endian = "big")
  while (length(bytes) < len) {
    more <- readBin(con, raw(), n = len - length(bytes), endian = "big")
    if (length(more) == 0L) stop("connection closed while reading bytes")
    bytes <- c(bytes, more)
  }
  bytes
}

readType <- function(con) {
  b <- readBin(con, raw(), n = 1L)
  if (length(b) == 0L) stop("connection closed while reading a type byte")
  rawToChar(b)
}

readDate <- function(con) {
  as.Date(readString(con))
}

readTime <- function(con) {
  .POSIXct(readDouble(con))
}

readObject <- function(con) {
  readTypedObject(con, readType(con))
}

readTypedObject <- function(con, type) {
  switch(type,
    "i" = readInt(con),
    "c" = readString(con),
    "b" = readBoolean(con),
    "d" = readDouble(con),
    "r" = readRaw(con),
    "D" = readDate(con),
    "t" = readTime(con),
    "a" = readArray(con),
    "l" = readList(con),
    "e" = readEnv(con),
    "s" = readStruct(con),
    "n" = NULL,
    "j" = getJobj(readString(con)),
    stop(paste("Unsupported type for deserialization", type)))
}

# 'a': element type, count, then untyped elements.  Primitive arrays come
# back as atomic vectors; other element types as lists (as SparkR does for
# jobj arrays and nested arrays they are lists).
readArray <- function(con) {
  type <- readType(con)
  len <- readInt(con)
  if (len == 0L) return(list())
  switch(type,
    "i" = readBin(con, integer(), n = len, size = 4L, endian = "big"),
    "d" = readBin(con, double(), n = len, size = 8L, endian = "big"),
    "b" = as.logical(readBin(con, integer(), n = len, size = 4L, endian = "big")),
    "c" = vapply(seq_len(len), function(i) readString(con), ""),
    lapply(seq_len(len), function(i) readTypedObject(con, type)))
}

# 'l': count, then typed elements.
readList <- function(con) {
  len <- readInt(con)
  if (len == 0L) return(list())
  lapply(seq_len(len), function(i) readObject(con))
}

# 'e': count, then (untyped string key, typed value) pairs.  Returned as an
# environment, as SparkR does.
readEnv <- function(con) {
  env <- new.env(parent = emptyenv())
  len <- readInt(con)
  for (i in seq_len(len)) {
    key <- readString(con)
    assign(key, readObject(con), envir = env)
  }
  env
}

# 's': a Row with schema: typed field-name array, then typed value list.
readStruct <- function(con) {
  fieldNames <- unlist(readObject(con))
  values <- readObject(con)
  names(values) <- fieldNames
  structure(values, class = "struct")
}

# Several objects written one after another until the stream ends.
readMultipleObjects <- function(inputCon) {
  data <- list()
  while (TRUE) {
    type <- readBin(inputCon, raw(), n = 1L)
    if (length(type) == 0L) break
    data[[length(data) + 1L]] <- readTypedObject(inputCon, rawToChar(type))
  }
  data
}

# A serialized row (count then typed fields), as SQLUtils.rowToRBytes writes.
readRow <- function(inputCon) {
  numCols <- readInt(inputCon)
  if (length(numCols) == 0L || numCols <= 0L) return(list())
  lapply(seq_len(numCols), function(i) readObject(inputCon))
}

readMultipleObjectsWithKeys <- function(inputCon) {
  keys <- list()
  data <- list()
  while (TRUE) {
    type <- readBin(inputCon, raw(), n = 1L)
    if (length(type) == 0L) break
    keys[[length(keys) + 1L]] <- readTypedObject(inputCon, rawToChar(type))
    data[[length(data) + 1L]] <- readObject(inputCon)
  }
  list(keys = keys, data = data)
}

# ---------------------------------------------------------------- writing

writeInt <- function(con, value) {
  writeBin(as.integer(value), con, size = 4L, endian = "big")
}

writeDouble <- function(con, value) {
  writeBin(as.double(value), con, size = 8L, endian = "big")
}

writeBoolean <- function(con, value) {
  writeInt(con, if (isTRUE(as.logical(value))) 1L else 0L)
}

.utf8Bytes <- function(value) {
  charToRaw(enc2utf8(as.character(value)))
}

writeString <- function(con, value) {
  bytes <- .utf8Bytes(value)
  writeInt(con, length(bytes) + 1L)
  writeBin(c(bytes, as.raw(0L)), con, endian = "big")
}

writeRaw <- function(con, batch) {
  writeInt(con, length(batch))
  writeBin(batch, con, endian = "big")
}

writeType <- function(con, class) {
  code <- switch(class,
    "NULL" = "n", "integer" = "i", "character" = "c", "logical" = "b",
    "double" = "d", "numeric" = "d", "raw" = "r", "array" = "a",
    "list" = "l", "struct" = "s", "jobj" = "j", "environment" = "e",
    "Date" = "D", "POSIXlt" = "t", "POSIXct" = "t",
    stop(paste("Unsupported type for serialization", class)))
  writeBin(charToRaw(code), con)
}

writeDate <- function(con, date) {
  writeString(con, format(as.Date(date), "%Y-%m-%d"))
}

writeTime <- function(con, time) {
  writeDouble(con, as.double(as.POSIXct(time)))
}

writeJobj <- function(con, value) {
  if (!isValidJobj(value)) {
    stop("invalid jobj ", value$id, " (it belongs to a previous backend connection)")
  }
  writeString(con, value$id)
}

# The serde type name used for an R value.
getSerdeType <- function(object) {
  if (is.null(object)) return("NULL")
  if (inherits(object, "jobj")) return("jobj")
  if (inherits(object, "struct")) return("struct")
  # The JVM reads no arrays of dates or times: several go as a typed list.
  if (inherits(object, "Date")) {
    return(if (length(object) != 1L) "list" else "Date")
  }
  if (inherits(object, c("POSIXct", "POSIXlt"))) {
    return(if (length(object) != 1L) "list" else "POSIXct")
  }
  if (is.environment(object)) return("environment")
  if (is.factor(object)) {
    return(if (length(object) == 1L) "character" else "array")
  }
  if (is.raw(object)) return("raw")
  if (is.list(object)) {
    if (length(object) == 0L) return("array")
    elemTypes <- unique(vapply(object, getSerdeType, ""))
    arrayable <- c("integer", "double", "logical", "character", "raw", "jobj",
                   "array", "list")
    if (length(elemTypes) == 1L && elemTypes %in% arrayable) "array" else "list"
  } else if (is.atomic(object)) {
    if (length(object) != 1L) "array" else {
      t <- typeof(object)
      if (t == "double") "double" else t
    }
  } else {
    stop(paste("Unsupported type for serialization", class(object)[1]))
  }
}

writeObject <- function(con, object, writeType = TRUE) {
  if (inherits(object, "preserializedArg")) {
    # Bytes already in wire format, type byte first.
    writeBin(if (isTRUE(writeType)) object$bytes else object$bytes[-1L], con)
    return(invisible(NULL))
  }
  type <- getSerdeType(object)
  # A scalar NA travels as a JVM null.
  if (type %in% c("integer", "character", "logical", "double", "Date", "POSIXct") &&
      is.na(object)) {
    type <- "NULL"
  }
  if (isTRUE(writeType)) writeType(con, type)
  switch(type,
    "NULL" = invisible(NULL),
    "integer" = writeInt(con, object),
    "character" = writeString(con, as.character(object)),
    "logical" = writeBoolean(con, object),
    "double" = writeDouble(con, object),
    "raw" = writeRaw(con, object),
    "array" = writeArray(con, object),
    "list" = writeList(con, if (is.list(object)) object else .asListKeepClass(object)),
    "struct" = writeList(con, unclass(object)),
    "jobj" = writeJobj(con, object),
    "environment" = writeEnv(con, object),
    "Date" = writeDate(con, object),
    "POSIXct" = writeTime(con, object))
}

# Untyped elements after one element type byte and a count.
writeArray <- function(con, arr) {
  if (is.factor(arr)) arr <- as.character(arr)
  n <- length(arr)
  if (n == 0L) {
    # An empty atomic vector keeps its element type (so an empty character
    # vector arrives as a String[]); an empty list has none.
    t <- if (is.list(arr)) "NULL" else typeof(arr)
    if (!(t %in% c("integer", "double", "logical", "character"))) t <- "NULL"
    writeType(con, t)
    writeInt(con, 0L)
    return(invisible(NULL))
  }
  if (is.list(arr)) {
    elemType <- getSerdeType(arr[[1L]])
    writeType(con, elemType)
    writeInt(con, n)
    for (a in arr) writeObject(con, a, writeType = FALSE)
    return(invisible(NULL))
  }
  {
    t <- typeof(arr)
    writeType(con, if (t == "double") "double" else t)
    writeInt(con, n)
    switch(t,
      "integer" = writeBin(arr, con, size = 4L, endian = "big"),
      "double" = writeBin(arr, con, size = 8L, endian = "big"),
      "logical" = writeBin(as.integer(!is.na(arr) & arr), con, size = 4L, endian = "big"),
      "character" = for (s in arr) writeString(con, s),
      stop(paste("Unsupported array element type", t)))
  }
  invisible(NULL)
}

.asListKeepClass <- function(x) {
  if (inherits(x, "POSIXlt")) x <- as.POSIXct(x)
  lapply(seq_along(x), function(i) x[i])
}

# A count, then each element typed.
writeList <- function(con, list) {
  writeInt(con, length(list))
  for (elem in list) writeObject(con, elem)
  invisible(NULL)
}

# 'e': count; then the keys as a typed string array and the values as a
# typed list (the JVM's SerDe.readMap layout).
writeEnv <- function(con, env) {
  keys <- ls(env, all.names = TRUE, sorted = TRUE)
  writeInt(con, length(keys))
  if (length(keys) > 0L) {
    writeType(con, "character")
    writeInt(con, length(keys))
    for (k in keys) writeString(con, k)
    writeList(con, mget(keys, envir = env))
  }
  invisible(NULL)
}

writeArgs <- function(con, args) {
  for (a in args) writeObject(con, a)
  invisible(NULL)
}

# ------------------------------------------------- fast row serialization
# Encodes the rows of a data.frame into the byte layout SQLUtils.createDF
# expects for one Row: int32 field count, then each field typed.  Works a
# column at a time with vectorized writeBin/split calls; each column becomes
# a list-matrix of byte pieces (pieces x rows) that are flattened row-wise.

.beInt <- function(x) writeBin(as.integer(x), raw(), size = 4L, endian = "big")

# Splits a byte vector into n pieces of `width` bytes.
.chunks <- function(bytes, width, n) {
  if (n == 0L) return(list())
  unname(split(bytes, rep.int(seq_len(n), rep.int(width, n))))
}

.typePieces <- function(type, n) rep(list(charToRaw(type)), n)

.stringPieces <- function(x, type = "c") {
  n <- length(x)
  b <- lapply(enc2utf8(as.character(x)), charToRaw)
  rbind(.typePieces(type, n), .chunks(.beInt(lengths(b) + 1L), 4L, n), b,
        rep(list(as.raw(0L)), n))
}

.cellPieces <- function(x) {
  n <- length(x)
  if (is.factor(x)) x <- as.character(x)
  if (inherits(x, "POSIXlt")) x <- as.POSIXct(x)
  if (inherits(x, "Date")) {
    m <- .stringPieces(format(x, "%Y-%m-%d"), "D")
  } else if (inherits(x, "POSIXct")) {
    m <- rbind(.typePieces("t", n),
               .chunks(writeBin(as.double(x), raw(), size = 8L, endian = "big"), 8L, n))
  } else if (is.integer(x)) {
    m <- rbind(.typePieces("i", n), .chunks(writeBin(x, raw(), size = 4L, endian = "big"), 4L, n))
  } else if (is.double(x)) {
    m <- rbind(.typePieces("d", n), .chunks(writeBin(x, raw(), size = 8L, endian = "big"), 8L, n))
  } else if (is.logical(x)) {
    m <- rbind(.typePieces("b", n),
               .chunks(writeBin(as.integer(!is.na(x) & x), raw(), size = 4L, endian = "big"), 4L, n))
  } else if (is.character(x)) {
    m <- .stringPieces(x)
  } else if (is.list(x)) {
    m <- rbind(lapply(x, function(v) {
      if (is.null(v)) return(charToRaw("n"))
      con <- rawConnection(raw(0), "wb")
      on.exit(close(con))
      if (is.atomic(v) && !is.raw(v)) {
        writeType(con, "array")
        writeArray(con, if (is.factor(v)) as.character(v) else as.vector(v))
      } else {
        writeObject(con, v)
      }
      rawConnectionValue(con)
    }))
    return(m)
  } else {
    stop("unsupported column type: ", class(x)[1])
  }
  nas <- which(is.na(x))
  if (length(nas)) {
    m[1L, nas] <- list(charToRaw("n"))
    if (nrow(m) > 1L) m[-1L, nas] <- list(raw(0))
  }
  m
}

# All rows as one list-matrix of pieces: (row length, field count, cells...).
.rowPieces <- function(df, withLength) {
  n <- nrow(df)
  ncols <- length(df)
  cells <- do.call(rbind, lapply(df, .cellPieces))
  header <- rep(list(.beInt(ncols)), n)
  if (is.null(cells)) cells <- matrix(list(), 0L, n)
  m <- rbind(header, cells)
  if (withLength) {
    rowLens <- colSums(matrix(lengths(m), nrow = nrow(m)))
    m <- rbind(.chunks(.beInt(rowLens), 4L, n), m)
  }
  m
}

# One raw vector per row.
.serializeRows <- function(df) {
  n <- nrow(df)
  if (n == 0L) return(list())
  m <- .rowPieces(df, withLength = FALSE)
  rowLens <- colSums(matrix(lengths(m), nrow = nrow(m)))
  .chunksVar(unlist(m, use.names = FALSE), rowLens)
}

.chunksVar <- function(bytes, lens) {
  unname(split(bytes, rep.int(seq_along(lens), lens)))
}

# The rows as one ready-made argument: an array ('a') of byte[] ('r').  The
# backend call writes it verbatim (see writeObject), avoiding per-row writes.
.serializedRowsArg <- function(df) {
  n <- nrow(df)
  body <- if (n == 0L) raw(0) else unlist(.rowPieces(df, withLength = TRUE), use.names = FALSE)
  structure(list(bytes = c(charToRaw("a"), charToRaw("r"), .beInt(n), body)),
            class = "preserializedArg")
}
