# SQL entry points, data sources, schemas and createDataFrame.

# sql(sqlQuery); the SparkR 1.x form sql(sqlContext, sqlQuery) still works.
sql <- function(x, ...) {
  query <- if (inherits(x, "jobj") && length(list(...)) > 0L) list(...)[[1]] else x
  if (!is.character(query) || length(query) != 1L) stop("sql() takes one query string")
  dataFrame(callJMethod(getSparkSession(), "sql", query))
}

tableToDF <- function(tableName) {
  dataFrame(callJMethod(getSparkSession(), "table", tableName))
}

# table("name") is tableToDF("name") when a session is active and "name" is a
# table or view in it; anything else goes to base::table.
table <- function(...) {
  args <- list(...)
  if (length(args) == 1L && is.null(names(args)) && is.character(args[[1]]) &&
      length(args[[1]]) == 1L && !is.null(.sparkREnv$.sparkRsession) &&
      !is.null(.sparkREnv$backend)) {
    exists <- tryCatch({
      catalog <- callJMethod(getSparkSession(), "catalog")
      isTRUE(callJMethod(catalog, "tableExists", args[[1]]))
    }, error = function(e) FALSE)
    if (exists) return(tableToDF(args[[1]]))
  }
  base::table(...)
}

tables <- function(databaseName = NULL) {
  catalog <- callJMethod(getSparkSession(), "catalog")
  listed <- if (is.null(databaseName)) callJMethod(catalog, "listTables")
            else callJMethod(catalog, "listTables", databaseName)
  dataFrame(callJMethod(listed, "toDF"))
}

tableNames <- function(databaseName = NULL) {
  names <- callJStatic(.sqlUtils, "getTableNames", getSparkSession(), databaseName)
  if (length(names) == 0L) character(0) else as.character(unlist(names))
}

cacheTable <- function(tableName) {
  invisible(callJMethod(callJMethod(getSparkSession(), "catalog"), "cacheTable", tableName))
}

uncacheTable <- function(tableName) {
  invisible(callJMethod(callJMethod(getSparkSession(), "catalog"), "uncacheTable", tableName))
}

clearCache <- function() {
  invisible(callJMethod(callJMethod(getSparkSession(), "catalog"), "clearCache"))
}

dropTempView <- function(viewName) {
  callJMethod(callJMethod(getSparkSession(), "catalog"), "dropTempView", viewName)
}

# ------------------------------------------------------------ schemas

structField <- function(x, type, nullable = TRUE, ...) {
  if (inherits(x, "jobj")) return(structure(list(jobj = x), class = "structField"))
  jobj <- callJStatic(.sqlUtils, "createStructField", as.character(x), as.character(type),
                      isTRUE(nullable))
  structure(list(jobj = jobj), class = "structField")
}

structType <- function(x, ...) {
  if (inherits(x, "jobj")) return(structTypeFromJobj(x))
  if (is.character(x) && length(list(...)) == 0L) {
    # A DDL string, e.g. "a INT, b STRING".
    return(structTypeFromJobj(
      callJStatic("org.apache.spark.sql.types.StructType", "fromDDL", x)))
  }
  fields <- c(list(x), list(...))
  if (!all(vapply(fields, inherits, NA, what = "structField"))) {
    stop("structType takes structField objects or a DDL string")
  }
  jobj <- callJStatic(.sqlUtils, "createStructType", lapply(fields, function(f) f$jobj))
  structTypeFromJobj(jobj)
}

.fieldDescription <- function(fieldJobj) {
  c(name = callJMethod(fieldJobj, "name"),
    type = callJMethod(callJMethod(fieldJobj, "dataType"), "toString"),
    nullable = if (isTRUE(callJMethod(fieldJobj, "nullable"))) "TRUE" else "FALSE")
}

print.structField <- function(x, ...) {
  d <- .fieldDescription(x$jobj)
  cat("StructField(name = \"", d[["name"]], "\", type = \"", d[["type"]],
      "\", nullable = ", d[["nullable"]], ")\n", sep = "")
  invisible(x)
}

print.structType <- function(x, ...) {
  fields <- callJMethod(x$jobj, "fields")
  cat("StructType\n")
  for (f in fields) {
    d <- .fieldDescription(f)
    cat("|-name = \"", d[["name"]], "\", type = \"", d[["type"]], "\", nullable = ",
        d[["nullable"]], "\n", sep = "")
  }
  invisible(x)
}

.toSchemaJobj <- function(schema) {
  if (is.null(schema)) return(NULL)
  if (inherits(schema, "structType")) return(schema$jobj)
  if (inherits(schema, "jobj")) return(schema)
  if (is.character(schema) && length(schema) == 1L) return(structType(schema)$jobj)
  stop("schema must be a structType or a DDL string")
}

# ------------------------------------------------------------ createDataFrame

.listRowsToDataFrame <- function(rows) {
  if (length(rows) == 0L) return(data.frame())
  first <- rows[[1]]
  n <- length(first)
  nms <- names(first)
  if (is.null(nms)) nms <- paste0("_", seq_len(n))
  cols <- lapply(seq_len(n), function(i) {
    values <- lapply(rows, function(r) {
      v <- r[[i]]
      if (is.null(v)) NA else v
    })
    if (all(vapply(values, function(v) is.atomic(v) && length(v) == 1L, NA))) {
      keepClass <- values[[1]]
      out <- unlist(values)
      if (inherits(keepClass, "Date")) out <- structure(as.numeric(out), class = "Date")
      if (inherits(keepClass, "POSIXct")) out <- .POSIXct(as.numeric(out))
      out
    } else {
      values
    }
  })
  structure(cols, names = nms, class = "data.frame", row.names = .set_row_names(length(rows)))
}

createDataFrame <- function(data, schema = NULL, samplingRatio = 1.0, numPartitions = NULL) {
  # SparkR 1.x form: createDataFrame(sqlContext, data, schema, ...).
  if (inherits(data, "jobj") && !is.null(schema) && !inherits(schema, "structType") &&
      (is.data.frame(schema) || is.list(schema) || is.atomic(schema))) {
    data <- schema
    schema <- if (!missing(samplingRatio) && !is.numeric(samplingRatio)) samplingRatio else NULL
  }
  session <- getSparkSession()
  if (is(data, "SparkDataFrame")) return(data)
  if (isS4(data) && is(data, "RDD")) {
    stop("createDataFrame from an RDD is not supported here; collect it first", call. = FALSE)
  }
  if (is.matrix(data)) data <- as.data.frame(data, stringsAsFactors = FALSE)
  if (!is.data.frame(data)) {
    if (is.list(data)) {
      data <- .listRowsToDataFrame(lapply(data, function(r) if (is.list(r)) r else as.list(r)))
    } else if (is.atomic(data)) {
      data <- structure(list(data), names = "_1", class = "data.frame",
                        row.names = .set_row_names(length(data)))
    } else {
      stop("createDataFrame takes a data.frame, a matrix, a list or a vector")
    }
  }
  names <- names(data)
  if (is.character(schema) && !(length(schema) == 1L && grepl(" ", schema))) {
    # A vector of column names.
    if (length(schema) != length(data)) stop("schema names must match the number of columns")
    names <- schema
    schema <- NULL
  } else {
    names <- gsub(".", "_", names, fixed = TRUE)
  }
  if (is.null(names) || length(names) == 0L) names <- paste0("_", seq_along(data))
  if (any(!nzchar(names))) names[!nzchar(names)] <- paste0("_", which(!nzchar(names)))

  schemaJ <- .toSchemaJobj(schema)
  if (is.null(schemaJ)) {
    fields <- mapply(function(n, colData) {
      callJStatic(.sqlUtils, "createStructField", n, .sparkTypeOfColumn(colData), TRUE)
    }, names, data, SIMPLIFY = FALSE, USE.NAMES = FALSE)
    schemaJ <- callJStatic(.sqlUtils, "createStructType", fields)
  }

  rows <- .serializedRowsArg(data)
  jsc <- getJavaSparkContext()
  if (is.null(numPartitions)) {
    numPartitions <- min(max(1L, nrow(data)),
                         as.integer(callJMethod(jsc, "defaultParallelism")))
  }
  jlist <- callJStatic("java.util.Arrays", "asList", rows)
  jrdd <- callJMethod(jsc, "parallelize", jlist, numToInt(max(1, numPartitions)))
  # The new RDD holds the rows; the list reference need not wait for R's GC.
  releaseJobj(jlist)
  sdf <- callJStatic(.sqlUtils, "createDF", callJMethod(jrdd, "rdd"), schemaJ, session)
  dataFrame(sdf)
}

as.DataFrame <- function(data, schema = NULL, samplingRatio = 1.0, numPartitions = NULL) {
  createDataFrame(data, schema, samplingRatio, numPartitions)
}

# ------------------------------------------------------------ data sources

.isLocalPath <- function(p) !grepl("^[A-Za-z][A-Za-z0-9+.-]*:", p)

.fixPaths <- function(path) {
  vapply(path, function(p) {
    if (.isLocalPath(p)) normalizePath(path.expand(p), mustWork = FALSE) else p
  }, "", USE.NAMES = FALSE)
}

.defaultSource <- function() {
  conf <- callJMethod(getSparkSession(), "conf")
  callJMethod(conf, "get", "spark.sql.sources.default", "parquet")
}

read.df <- function(path = NULL, source = NULL, schema = NULL, na.strings = "NA", ...) {
  if (!is.null(path) && !is.character(path)) stop("path must be a character vector")
  session <- getSparkSession()
  if (is.null(source)) source <- .defaultSource()
  options <- varargsToStrEnv(...)
  if (identical(tolower(source), "csv") && !exists("nullValue", envir = options) &&
      !is.null(na.strings)) {
    assign("nullValue", as.character(na.strings), envir = options)
  }
  reader <- callJMethod(session, "read")
  reader <- callJMethod(reader, "format", source)
  schemaJ <- .toSchemaJobj(schema)
  if (!is.null(schemaJ)) reader <- callJMethod(reader, "schema", schemaJ)
  if (length(ls(options))) reader <- callJMethod(reader, "options", options)
  sdf <- if (is.null(path) || length(path) == 0L) {
    callJMethod(reader, "load")
  } else if (length(path) == 1L) {
    callJMethod(reader, "load", .fixPaths(path))
  } else {
    callJMethod(reader, "load", as.list(.fixPaths(path)))
  }
  dataFrame(sdf)
}

loadDF <- function(path = NULL, source = NULL, schema = NULL, ...) {
  read.df(path, source, schema, ...)
}

read.json <- function(path, ...) read.df(path, source = "json", ...)
read.parquet <- function(path, ...) read.df(path, source = "parquet", ...)
read.orc <- function(path, ...) read.df(path, source = "orc", ...)
read.text <- function(path, ...) read.df(path, source = "text", ...)

setMethod("write.df", signature(df = "SparkDataFrame"),
          function(df, path = NULL, source = NULL, mode = "error", ...) {
  if (is.null(source)) source <- .defaultSource()
  options <- varargsToStrEnv(...)
  writer <- callJMethod(df@sdf, "write")
  writer <- callJMethod(writer, "format", source)
  writer <- callJMethod(writer, "mode", as.character(mode))
  if (length(ls(options))) writer <- callJMethod(writer, "options", options)
  if (is.null(path)) callJMethod(writer, "save")
  else callJMethod(writer, "save", .fixPaths(path))
  invisible(NULL)
})

setGeneric("saveDF", function(df, path, source = NULL, mode = "error", ...)
  standardGeneric("saveDF"))
setMethod("saveDF", signature(df = "SparkDataFrame", path = "character"),
          function(df, path, source = NULL, mode = "error", ...) {
  write.df(df, path, source, mode, ...)
})

setGeneric("write.json", function(x, path, ...) standardGeneric("write.json"))
setMethod("write.json", signature(x = "SparkDataFrame", path = "character"),
          function(x, path, mode = "error", ...) {
  write.df(x, path, "json", mode, ...)
})

setGeneric("write.parquet", function(x, path, ...) standardGeneric("write.parquet"))
setMethod("write.parquet", signature(x = "SparkDataFrame", path = "character"),
          function(x, path, mode = "error", ...) {
  write.df(x, path, "parquet", mode, ...)
})

setGeneric("write.orc", function(x, path, ...) standardGeneric("write.orc"))
setMethod("write.orc", signature(x = "SparkDataFrame", path = "character"),
          function(x, path, mode = "error", ...) {
  write.df(x, path, "orc", mode, ...)
})

setGeneric("write.text", function(x, path, ...) standardGeneric("write.text"))
setMethod("write.text", signature(x = "SparkDataFrame", path = "character"),
          function(x, path, mode = "error", ...) {
  write.df(x, path, "text", mode, ...)
})
