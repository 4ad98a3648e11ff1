# Generics used only by the RDD API (the shared ones live in 00generics.R).
# A generic is defined here only when no earlier file already did.

.rddGeneric <- function(name, def, ...) {
  if (!isGeneric(name, where = topenv(parent.frame()))) {
    setGeneric(name, def, where = topenv(parent.frame()), ...)
  }
  invisible(name)
}

.rddGeneric("getJRDD", function(rdd, ...) standardGeneric("getJRDD"))
.rddGeneric("getSerializedMode", function(rdd, ...) standardGeneric("getSerializedMode"))
.rddGeneric("lapplyPartitionsWithIndex",
            function(X, FUN) standardGeneric("lapplyPartitionsWithIndex"))
.rddGeneric("mapPartitionsWithIndex",
            function(X, FUN) standardGeneric("mapPartitionsWithIndex"))
.rddGeneric("filterRDD", function(x, f) standardGeneric("filterRDD"))
.rddGeneric("flatMap", function(X, FUN) standardGeneric("flatMap"))
.rddGeneric("collectRDD", function(x, ...) standardGeneric("collectRDD"))
.rddGeneric("collectPartition",
            function(x, partitionId) standardGeneric("collectPartition"))
.rddGeneric("sumRDD", function(x) standardGeneric("sumRDD"))
.rddGeneric("maxRDD", function(x) standardGeneric("maxRDD"))
.rddGeneric("minRDD", function(x) standardGeneric("minRDD"))
.rddGeneric("countRDD", function(x) standardGeneric("countRDD"))
.rddGeneric("takeRDD", function(x, num) standardGeneric("takeRDD"))
.rddGeneric("glom", function(x) standardGeneric("glom"))
.rddGeneric("fold", function(x, zeroValue, op) standardGeneric("fold"))
.rddGeneric("foreach", function(x, func) standardGeneric("foreach"))
.rddGeneric("foreachPartition", function(x, func) standardGeneric("foreachPartition"))
.rddGeneric("numPartitions", function(x) standardGeneric("numPartitions"))
.rddGeneric("unionRDD", function(x, y) standardGeneric("unionRDD"))
.rddGeneric("zipWithIndex", function(x) standardGeneric("zipWithIndex"))
