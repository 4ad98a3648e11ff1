# R functions applied on executors: spark.lapply, dapply, gapply.

# Runs func over the elements of `list` on the executors (one partition per
# element) and returns the results as a list.
spark.lapply <- function(list, func) {
  if (!is.function(func)) stop("spark.lapply: func must be a function")
  sc <- .rddDefaultSC()
  n <- length(list)
  if (n == 0L) return(list())
  rdd <- parallelize(sc, list, n)
  .collectRDD(map(rdd, func))
}

# ------------------------------------------------------------ schemas

# A StructType jobj from what users pass as a schema: a structType object
# (list with $jobj), a StructType jobj, or a DDL string ("a INT, b STRING").
.schemaJobj <- function(schema) {
  if (is.null(schema)) return(NULL)
  if (inherits(schema, "jobj")) return(schema)
  if (is.list(schema) && inherits(schema$jobj, "jobj")) return(schema$jobj)
  if (is.character(schema) && length(schema) == 1L) {
    return(callJStatic("org.apache.spark.sql.types.StructType", "fromDDL", schema))
  }
  stop("schema must be a structType, a StructType jobj or a DDL string")
}

.applyPackagesArr <- function() serialize(.rddPackageNames(), connection = NULL)

# ------------------------------------------------------------ dapply

.dapplySdf <- function(sdf, func, schemaJobj) {
  callJStatic("org.apache.spark.sql.api.r.SQLUtils", "dapply", sdf,
              serialize(.cleanClosure(func), connection = NULL),
              .applyPackagesArr(), .rddBroadcastList(), schemaJobj)
}

setMethod("dapply", signature(x = "SparkDataFrame", func = "function"),
          function(x, func, schema) {
            if (missing(schema) || is.null(schema)) {
              stop("dapply needs a schema (or use dapplyCollect)")
            }
            dataFrame(.dapplySdf(x@sdf, func, .schemaJobj(schema)))
          })

# Collects a DataFrame whose single binary column holds R-serialized
# data.frames and binds them into one data.frame.
.collectSerializedFrames <- function(sdf) {
  jrdd <- callJStatic("org.apache.spark.sql.api.r.SQLUtils", "dfToRowRDD", sdf)
  rows <- .collectJRDD(jrdd)
  frames <- base::lapply(rows, function(b) {
    con <- rawConnection(b, "rb")
    on.exit(close(con))
    row <- readObject(con)
    unserialize(row[[1L]])
  })
  frames <- Filter(Negate(is.null), frames)
  if (length(frames) == 0L) return(data.frame())
  out <- do.call(rbind, frames)
  if (is.data.frame(out)) row.names(out) <- NULL
  out
}

setMethod("dapplyCollect", signature(x = "SparkDataFrame", func = "function"),
          function(x, func) {
            .collectSerializedFrames(.dapplySdf(x@sdf, func, NULL))
          })

# ------------------------------------------------------------ gapply

.groupedJobj <- function(x, cols) {
  cols <- as.list(as.character(unlist(cols)))
  if (length(cols) == 0L) stop("gapply: give the grouping columns")
  jcols <- base::lapply(cols, function(c) callJMethod(x@sdf, "col", c))
  callJMethod(x@sdf, "groupBy", jcols)
}

.gapplySdf <- function(sgd, func, schemaJobj) {
  callJStatic("org.apache.spark.sql.api.r.SQLUtils", "gapply", sgd,
              serialize(.cleanClosure(func), connection = NULL),
              .applyPackagesArr(), .rddBroadcastList(), schemaJobj)
}

setMethod("gapply", signature(x = "SparkDataFrame"), function(x, cols, func, schema) {
  if (missing(schema) || is.null(schema)) stop("gapply needs a schema (or use gapplyCollect)")
  dataFrame(.gapplySdf(.groupedJobj(x, cols), func, .schemaJobj(schema)))
})

setMethod("gapply", signature(x = "GroupedData"), function(x, func, schema) {
  if (missing(schema) || is.null(schema)) stop("gapply needs a schema (or use gapplyCollect)")
  dataFrame(.gapplySdf(x@sgd, func, .schemaJobj(schema)))
})

setMethod("gapplyCollect", signature(x = "SparkDataFrame"), function(x, cols, func) {
  .collectSerializedFrames(.gapplySdf(.groupedJobj(x, cols), func, NULL))
})

setMethod("gapplyCollect", signature(x = "GroupedData"), function(x, func) {
  .collectSerializedFrames(.gapplySdf(x@sgd, func, NULL))
})
