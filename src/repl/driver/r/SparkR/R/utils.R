# Small helpers.

# A named list (or named arguments) as an environment, for JVM maps.
convertNamedListToEnv <- function(namedList) {
  env <- new.env(parent = emptyenv())
  nms <- names(namedList)
  if (length(namedList) > 0L && (is.null(nms) || any(!nzchar(nms)))) {
    stop("all elements must be named")
  }
  for (n in nms) assign(n, namedList[[n]], envir = env)
  env
}

# Options for the JVM (all values as strings, logicals lower-case).
.toOptionString <- function(v) {
  if (is.null(v)) return(NULL)
  if (is.logical(v)) return(if (isTRUE(v)) "true" else "false")
  if (inherits(v, "structType")) return(v)
  as.character(v)
}

varargsToStrEnv <- function(...) {
  pairs <- list(...)
  env <- new.env(parent = emptyenv())
  nms <- names(pairs)
  for (i in seq_along(pairs)) {
    if (is.null(nms) || !nzchar(nms[i])) stop("options must be named (name = value)")
    v <- pairs[[i]]
    if (is.null(v)) next
    assign(nms[i], .toOptionString(v), envir = env)
  }
  env
}

envToList <- function(env) {
  if (!is.environment(env)) return(env)
  keys <- ls(env, all.names = TRUE, sorted = TRUE)
  stats::setNames(mget(keys, envir = env), keys)
}

numToInt <- function(num) {
  if (!is.numeric(num) || length(num) != 1L || is.na(num)) stop("expected a single number")
  if (as.integer(num) != num) warning(paste("Coercing", num, "to integer."))
  as.integer(num)
}

# ------------------------------------------------------------ tiny JSON
# Parses JSON text into R values: objects -> named lists, arrays -> lists,
# strings, numbers, TRUE/FALSE, null -> NULL.

parseJSON <- function(text) {
  chars <- strsplit(enc2utf8(text), "")[[1]]
  n <- length(chars)
  pos <- 1L
  ws <- c(" ", "\t", "\n", "\r")
  skip <- function() {
    while (pos <= n && chars[pos] %in% ws) pos <<- pos + 1L
  }
  fail <- function(what) stop("invalid JSON at character ", pos, ": ", what, call. = FALSE)
  parseValue <- function() {
    skip()
    if (pos > n) fail("unexpected end")
    ch <- chars[pos]
    if (ch == "{") return(parseObject())
    if (ch == "[") return(parseArray())
    if (ch == "\"") return(parseString())
    if (ch == "t") return(parseLiteral("true", TRUE))
    if (ch == "f") return(parseLiteral("false", FALSE))
    if (ch == "n") return(parseLiteral("null", NULL))
    parseNumber()
  }
  parseLiteral <- function(word, value) {
    k <- nchar(word)
    if (pos + k - 1L > n || paste(chars[pos:(pos + k - 1L)], collapse = "") != word) {
      fail(paste("expected", word))
    }
    pos <<- pos + k
    value
  }
  parseNumber <- function() {
    start <- pos
    while (pos <= n && grepl("[-+0-9.eE]", chars[pos])) pos <<- pos + 1L
    if (pos == start) fail(paste0("unexpected '", chars[pos], "'"))
    num <- suppressWarnings(as.numeric(paste(chars[start:(pos - 1L)], collapse = "")))
    if (is.na(num)) fail("bad number")
    num
  }
  parseString <- function() {
    pos <<- pos + 1L
    out <- character(0)
    start <- pos
    repeat {
      if (pos > n) fail("unterminated string")
      ch <- chars[pos]
      if (ch == "\"") break
      if (ch == "\\") {
        if (pos > start) out <- c(out, chars[start:(pos - 1L)])
        esc <- chars[pos + 1L]
        if (esc == "u") {
          code <- strtoi(paste(chars[(pos + 2L):(pos + 5L)], collapse = ""), 16L)
          pos <<- pos + 6L
          if (code >= 0xD800 && code <= 0xDBFF && pos + 5L <= n && chars[pos] == "\\" &&
              chars[pos + 1L] == "u") {
            low <- strtoi(paste(chars[(pos + 2L):(pos + 5L)], collapse = ""), 16L)
            code <- 0x10000 + (code - 0xD800) * 1024 + (low - 0xDC00)
            pos <<- pos + 6L
          }
          out <- c(out, intToUtf8(code))
        } else {
          out <- c(out, switch(esc, "n" = "\n", "t" = "\t", "r" = "\r", "b" = "\b",
                               "f" = "\f", esc))
          pos <<- pos + 2L
        }
        start <- pos
        next
      }
      pos <<- pos + 1L
    }
    if (pos > start) out <- c(out, chars[start:(pos - 1L)])
    pos <<- pos + 1L
    paste(out, collapse = "")
  }
  parseArray <- function() {
    pos <<- pos + 1L
    out <- list()
    skip()
    if (pos <= n && chars[pos] == "]") {
      pos <<- pos + 1L
      return(out)
    }
    repeat {
      v <- parseValue()
      out[length(out) + 1L] <- list(v)
      skip()
      if (pos > n) fail("unterminated array")
      if (chars[pos] == ",") { pos <<- pos + 1L; next }
      if (chars[pos] == "]") { pos <<- pos + 1L; break }
      fail("expected , or ]")
    }
    out
  }
  parseObject <- function() {
    pos <<- pos + 1L
    out <- list()
    keys <- character(0)
    skip()
    if (pos <= n && chars[pos] == "}") {
      pos <<- pos + 1L
      return(stats::setNames(list(), character(0)))
    }
    repeat {
      skip()
      if (pos > n || chars[pos] != "\"") fail("expected a key")
      key <- parseString()
      skip()
      if (pos > n || chars[pos] != ":") fail("expected :")
      pos <<- pos + 1L
      v <- parseValue()
      out[length(out) + 1L] <- list(v)
      keys <- c(keys, key)
      skip()
      if (pos > n) fail("unterminated object")
      if (chars[pos] == ",") { pos <<- pos + 1L; next }
      if (chars[pos] == "}") { pos <<- pos + 1L; break }
      fail("expected , or }")
    }
    names(out) <- keys
    out
  }
  value <- parseValue()
  skip()
  if (pos <= n) fail("trailing characters")
  value
}

# ------------------------------------------------------ Spark data types
# A data type from StructType.json() as Spark's simpleString.
.typeSimpleString <- function(t) {
  if (is.character(t)) {
    return(switch(t,
      "integer" = "int", "long" = "bigint", "short" = "smallint", "byte" = "tinyint",
      t))
  }
  switch(t$type,
    "array" = paste0("array<", .typeSimpleString(t$elementType), ">"),
    "map" = paste0("map<", .typeSimpleString(t$keyType), ",",
                   .typeSimpleString(t$valueType), ">"),
    "struct" = paste0("struct<", paste(vapply(t$fields, function(f) {
      paste0(f$name, ":", .typeSimpleString(f$type))
    }, ""), collapse = ","), ">"),
    "udt" = if (!is.null(t$sqlType)) .typeSimpleString(t$sqlType) else "udt",
    t$type)
}

# The R type a column of the given simpleString collects to.
.rTypeOf <- function(simple) {
  if (simple %in% c("int", "smallint", "tinyint")) return("integer")
  if (simple %in% c("bigint", "double", "float") || startsWith(simple, "decimal")) {
    return("numeric")
  }
  if (simple == "string" || startsWith(simple, "varchar") || startsWith(simple, "char")) {
    return("character")
  }
  if (simple == "boolean") return("logical")
  if (simple == "date") return("Date")
  if (simple %in% c("timestamp", "timestamp_ltz")) return("POSIXct")
  "list"
}

# SparkR's coltypes names for simpleStrings.
.coltypeOf <- function(simple) {
  switch(.rTypeOf(simple),
    "integer" = "integer", "numeric" = "numeric", "character" = "character",
    "logical" = "logical", "Date" = "Date", "POSIXct" = "POSIXct",
    if (startsWith(simple, "array")) "array"
    else if (startsWith(simple, "map")) "map"
    else if (startsWith(simple, "struct")) "struct"
    else simple)
}

# R column class -> Spark type name for createDataFrame.
.sparkTypeOfColumn <- function(x) {
  if (is.factor(x)) return("string")
  if (inherits(x, "Date")) return("date")
  if (inherits(x, c("POSIXct", "POSIXlt"))) return("timestamp")
  if (is.integer(x)) return("integer")
  if (is.double(x)) return("double")
  if (is.logical(x)) return("boolean")
  if (is.character(x)) return("string")
  if (is.raw(x)) return("binary")
  if (is.list(x)) {
    first <- Find(Negate(is.null), x)
    if (is.null(first)) return("string")
    if (is.raw(first)) return("binary")
    if (is.atomic(first)) return(paste0("array<", .sparkTypeOfColumn(first), ">"))
  }
  stop("unsupported column type for createDataFrame: ", class(x)[1])
}
