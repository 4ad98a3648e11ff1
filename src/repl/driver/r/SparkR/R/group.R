# GroupedData: the result of groupBy().

setMethod("show", "GroupedData", function(object) {
  cat("GroupedData\n")
  invisible(NULL)
})

# agg(gd, avg(df$x), n = count(df$y)) with Columns (names become aliases),
# or agg(gd, x = "avg", y = "max") / agg(gd, list(x = "avg")) with
# column = function-name pairs.
setMethod("agg", signature(x = "GroupedData"), function(x, ...) {
  cols <- list(...)
  if (length(cols) == 1L && is.list(cols[[1]]) && !is(cols[[1]], "Column")) {
    cols <- cols[[1]]
  }
  if (length(cols) == 0L) stop("agg needs at least one aggregate")
  if (all(vapply(cols, is.character, NA))) {
    nms <- names(cols)
    if (is.null(nms) || any(!nzchar(nms))) {
      stop("aggregates given as strings must be named: column = \"function\"")
    }
    env <- new.env(parent = emptyenv())
    for (n in nms) assign(n, cols[[n]], envir = env)
    return(dataFrame(callJMethod(x@sgd, "agg", env)))
  }
  if (!all(vapply(cols, function(c) is(c, "Column"), NA))) {
    stop("agg takes Columns or column = \"function\" pairs")
  }
  nms <- names(cols)
  if (!is.null(nms)) {
    for (i in seq_along(cols)) {
      if (nzchar(nms[i])) cols[[i]] <- alias(cols[[i]], nms[i])
    }
  }
  jcols <- lapply(cols, function(c) c@jc)
  dataFrame(callJMethod(x@sgd, "agg", jcols[[1]], unname(jcols[-1])))
})

setMethod("summarize", signature(x = "GroupedData"), function(x, ...) agg(x, ...))

setMethod("count", signature(x = "GroupedData"), function(x) {
  dataFrame(callJMethod(x@sgd, "count"))
})

.groupedNumeric <- function(x, name, cols) {
  cols <- as.character(unlist(cols))
  dataFrame(callJMethod(x@sgd, name, if (length(cols)) as.list(cols) else character(0)))
}

setMethod("avg", signature(x = "GroupedData"), function(x, ...) {
  .groupedNumeric(x, "avg", list(...))
})
setMethod("mean", signature(x = "GroupedData"), function(x, ...) {
  .groupedNumeric(x, "mean", list(...))
})
setMethod("sum", signature(x = "GroupedData"), function(x, ..., na.rm = FALSE) {
  .groupedNumeric(x, "sum", list(...))
})
setMethod("min", signature(x = "GroupedData"), function(x, ..., na.rm = FALSE) {
  .groupedNumeric(x, "min", list(...))
})
setMethod("max", signature(x = "GroupedData"), function(x, ..., na.rm = FALSE) {
  .groupedNumeric(x, "max", list(...))
})

setGeneric("pivot", function(x, colname, values = list()) standardGeneric("pivot"))
setMethod("pivot", signature(x = "GroupedData", colname = "character"),
          function(x, colname, values = list()) {
  sgd <- if (length(values) == 0L) callJMethod(x@sgd, "pivot", colname)
         else callJMethod(x@sgd, "pivot", colname, as.list(values))
  groupedData(sgd)
})
