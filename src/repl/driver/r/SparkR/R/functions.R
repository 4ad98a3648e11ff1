# Column functions (org.apache.spark.sql.functions).

lit <- function(x) {
  if (is(x, "Column")) return(x)
  if (is.factor(x)) x <- as.character(x)
  if (length(x) != 1L && !is.null(x)) stop("lit() takes a single value")
  if (is.integer(x) && !is.na(x)) {
    # An R integer is a Spark int.
    return(.sqlFn("lit", x))
  }
  .sqlFn("lit", if (length(x) == 1L && is.na(x)) NULL else x)
}

col <- function(x) column(x)

expr <- function(x) .sqlFn("expr", x)

when <- function(condition, value) {
  column(callJStatic(.functions, "when", condition@jc, .asJc(value)))
}

concat <- function(x, ...) {
  .sqlFn("concat", .toJCols(c(list(x), list(...))))
}

concat_ws <- function(sep, x, ...) {
  .sqlFn("concat_ws", sep, .toJCols(c(list(x), list(...))))
}

struct <- function(x, ...) .sqlFn("struct", .toJCols(c(list(x), list(...))))

greatest <- function(x, ...) .sqlFn("greatest", .toJCols(c(list(x), list(...))))
least <- function(x, ...) .sqlFn("least", .toJCols(c(list(x), list(...))))

setMethod("coalesce", signature(x = "Column"), function(x, ...) {
  .sqlFn("coalesce", .toJCols(c(list(x), list(...))))
})

# Aggregates.
setMethod("avg", signature(x = "Column"), function(x) .sqlFn("avg", x@jc))
setMethod("mean", signature(x = "Column"), function(x, ...) .sqlFn("avg", x@jc))
setMethod("sum", signature(x = "Column"), function(x, ..., na.rm = FALSE) .sqlFn("sum", x@jc))
setMethod("min", signature(x = "Column"), function(x, ..., na.rm = FALSE) .sqlFn("min", x@jc))
setMethod("max", signature(x = "Column"), function(x, ..., na.rm = FALSE) .sqlFn("max", x@jc))
setMethod("count", signature(x = "Column"), function(x) .sqlFn("count", x@jc))
setMethod("n", signature(x = "Column"), function(x) .sqlFn("count", x@jc))
setMethod("first", signature(x = "Column"), function(x, na.rm = FALSE) {
  .sqlFn("first", x@jc, isTRUE(na.rm))
})
setMethod("first", signature(x = "character"), function(x, na.rm = FALSE) {
  .sqlFn("first", column(x)@jc, isTRUE(na.rm))
})

setMethod("countDistinct", signature(x = "Column"), function(x, ...) {
  .sqlFn("countDistinct", x@jc, .toJCols(list(...)))
})
setMethod("n_distinct", signature(x = "Column"), function(x, ...) countDistinct(x, ...))

setMethod("stddev", signature(x = "Column"), function(x) .sqlFn("stddev", x@jc))
setMethod("variance", signature(x = "Column"), function(x) .sqlFn("variance", x@jc))

setMethod("upper", signature(x = "Column"), function(x) .sqlFn("upper", x@jc))
setMethod("lower", signature(x = "Column"), function(x) .sqlFn("lower", x@jc))
