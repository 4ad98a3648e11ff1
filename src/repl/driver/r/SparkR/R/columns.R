# Column expressions.

.functions <- "org.apache.spark.sql.functions"

.sqlFn <- function(name, ...) {
  column(callJStatic(.functions, name, ...))
}

# An R value or Column as a Column jobj.
.asJc <- function(x) {
  if (is(x, "Column")) x@jc else lit(x)@jc
}

setMethod("show", "Column", function(object) {
  cat("Column", callJMethod(object@jc, "toString"), "\n")
  invisible(NULL)
})

.columnBinaryMethods <- c(
  "==" = "equalTo", "!=" = "notEqual", ">" = "gt", "<" = "lt",
  ">=" = "geq", "<=" = "leq", "&" = "and", "|" = "or",
  "+" = "plus", "-" = "minus", "*" = "multiply", "/" = "divide", "%%" = "mod")

.columnOp <- function(op, e1, e2) {
  if (op == "^") {
    return(.sqlFn("pow", .asJc(e1), .asJc(e2)))
  }
  if (op == "%/%") {
    return(cast(.sqlFn("floor", callJMethod(.asJc(e1), "divide", .asJc(e2))), "bigint"))
  }
  method <- .columnBinaryMethods[[op]]
  if (is.null(method)) stop("operator ", op, " is not supported for Columns")
  column(callJMethod(.asJc(e1), method, .asJc(e2)))
}

setMethod("Ops", signature(e1 = "Column", e2 = "Column"), function(e1, e2) {
  .columnOp(.Generic, e1, e2)
})

setMethod("Ops", signature(e1 = "Column", e2 = "ANY"), function(e1, e2) {
  .columnOp(.Generic, e1, e2)
})

setMethod("Ops", signature(e1 = "ANY", e2 = "Column"), function(e1, e2) {
  .columnOp(.Generic, e1, e2)
})

setMethod("Ops", signature(e1 = "Column", e2 = "missing"), function(e1, e2) {
  switch(.Generic,
    "-" = .sqlFn("negate", e1@jc),
    "!" = .sqlFn("not", e1@jc),
    "+" = e1,
    stop("unary operator ", .Generic, " is not supported for Columns"))
})

setMethod("!", signature(x = "Column"), function(x) .sqlFn("not", x@jc))

.mathNames <- c(
  abs = "abs", sqrt = "sqrt", exp = "exp", expm1 = "expm1", log = "log",
  log10 = "log10", log2 = "log2", log1p = "log1p", floor = "floor",
  ceiling = "ceil", sign = "signum", cos = "cos", sin = "sin", tan = "tan",
  acos = "acos", asin = "asin", atan = "atan", cosh = "cosh", sinh = "sinh",
  tanh = "tanh", trunc = "trunc")

setMethod("Math", signature(x = "Column"), function(x) {
  fn <- .mathNames[.Generic]
  if (is.na(fn) || fn == "trunc") stop(.Generic, " is not supported for Columns")
  .sqlFn(fn, x@jc)
})

setMethod("round", signature(x = "Column"), function(x, digits = 0) {
  .sqlFn("round", x@jc, as.integer(digits))
})

setMethod("alias", signature(object = "Column"), function(object, data) {
  column(callJMethod(object@jc, "as", as.character(data)))
})

setMethod("asc", signature(x = "Column"), function(x) column(callJMethod(x@jc, "asc")))
setMethod("desc", signature(x = "Column"), function(x) column(callJMethod(x@jc, "desc")))
setMethod("asc", signature(x = "character"), function(x) .sqlFn("asc", x))
setMethod("desc", signature(x = "character"), function(x) .sqlFn("desc", x))

setMethod("cast", signature(x = "Column"), function(x, dataType) {
  if (inherits(dataType, "structType")) dataType <- dataType$jobj
  column(callJMethod(x@jc, "cast", dataType))
})

setMethod("isNull", signature(x = "Column"), function(x) column(callJMethod(x@jc, "isNull")))
setMethod("isNotNull", signature(x = "Column"), function(x) {
  column(callJMethod(x@jc, "isNotNull"))
})
setMethod("isNaN", signature(x = "Column"), function(x) column(callJMethod(x@jc, "isNaN")))
setMethod("is.na", signature(x = "Column"), function(x) isNull(x))

setMethod("like", signature(x = "Column"), function(x, pattern) {
  column(callJMethod(x@jc, "like", as.character(pattern)))
})
setMethod("rlike", signature(x = "Column"), function(x, pattern) {
  column(callJMethod(x@jc, "rlike", as.character(pattern)))
})
setMethod("contains", signature(x = "Column"), function(x, value) {
  column(callJMethod(x@jc, "contains", value))
})
setMethod("between", signature(x = "Column"), function(x, bounds) {
  stopifnot(length(bounds) == 2L)
  column(callJMethod(x@jc, "between", bounds[[1]], bounds[[2]]))
})

setMethod("%in%", signature(x = "Column"), function(x, table) {
  column(callJMethod(x@jc, "isin", as.list(table)))
})

setMethod("otherwise", signature(x = "Column"), function(x, value) {
  column(callJMethod(x@jc, "otherwise", .asJc(value)))
})

setMethod("getField", signature(x = "Column"), function(x, fieldName) {
  column(callJMethod(x@jc, "getField", fieldName))
})

setMethod("getItem", signature(x = "Column"), function(x, i) {
  column(callJMethod(x@jc, "getItem", i))
})

setMethod("ifelse", signature(test = "Column"), function(test, yes, no) {
  column(callJMethod(callJStatic(.functions, "when", test@jc, .asJc(yes)),
                     "otherwise", .asJc(no)))
})
