# S4 classes of the DataFrame API.

setOldClass("jobj")

# A Spark Dataset[Row] held through its jobj.
setClass("SparkDataFrame", slots = c(env = "environment", sdf = "jobj"))
# A Column expression.
setClass("Column", slots = c(jc = "jobj"))
# The result of groupBy().
setClass("GroupedData", slots = c(sgd = "jobj"))

dataFrame <- function(sdf, isCached = FALSE) {
  env <- new.env()
  env$isCached <- isCached
  new("SparkDataFrame", env = env, sdf = sdf)
}

column <- function(x) {
  if (inherits(x, "jobj")) return(new("Column", jc = x))
  if (is(x, "Column")) return(x)
  if (is.character(x) && length(x) == 1L) {
    return(new("Column", jc = callJStatic("org.apache.spark.sql.functions", "col", x)))
  }
  stop("column() expects a column name or a Column jobj")
}

groupedData <- function(sgd) new("GroupedData", sgd = sgd)

setClassUnion("characterOrColumn", c("character", "Column"))
setClassUnion("numericOrcharacter", c("numeric", "character"))
