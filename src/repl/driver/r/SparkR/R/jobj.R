# References to objects that live in the JVM's object tracker.
#
# A jobj is a list(id = <tracker id>, env = <environment>) of class "jobj".
# The environment carries a finalizer: when R garbage-collects the last copy
# of a reference, its id is queued; the queue is flushed (SparkRHandler.rm)
# before the next backend call, never from inside the finalizer itself.

# Holds the connection state.  Contract: backend, .sparkRjsc, .sparkRsession.
.sparkREnv <- new.env()
.sparkREnv$backendGeneration <- 0L

# Ids waiting for release, one binding per id (a finalizer only assigns).
.toRemoveJobjs <- new.env(parent = emptyenv())

.queueJobjRemoval <- function(e) {
  if (!is.null(e$id) && identical(e$generation, .sparkREnv$backendGeneration) &&
      !isTRUE(e$released)) {
    assign(e$id, TRUE, envir = .toRemoveJobjs)
  }
  invisible(NULL)
}

jobj <- function(objId) {
  if (!is.character(objId) || length(objId) != 1L) {
    stop("object id must be a single string")
  }
  e <- new.env(parent = emptyenv())
  e$id <- objId
  e$generation <- .sparkREnv$backendGeneration
  reg.finalizer(e, .queueJobjRemoval, onexit = FALSE)
  structure(list(id = objId, env = e), class = "jobj")
}

# Called by the deserializer for a 'j' value.
getJobj <- function(objId) jobj(objId)

isValidJobj <- function(x) {
  inherits(x, "jobj") && !is.null(x$env) &&
    identical(x$env$generation, .sparkREnv$backendGeneration)
}

# Ids pending release, drained by the backend before each call.
.takePendingRemovals <- function() {
  ids <- ls(.toRemoveJobjs, all.names = TRUE)
  if (length(ids)) rm(list = ids, envir = .toRemoveJobjs)
  ids
}

.clearPendingRemovals <- function() {
  invisible(.takePendingRemovals())
}

getClassName.jobj <- function(x) {
  cls <- callJMethod(x, "getClass")
  callJMethod(cls, "getName")
}

print.jobj <- function(x, ...) {
  name <- tryCatch(getClassName.jobj(x), error = function(e) "<unavailable>")
  cat("Java ref type", name, "id", x$id, "\n", sep = " ")
  invisible(x)
}

format.jobj <- function(x, ...) paste0("jobj(", x$id, ")")

isInstanceOf <- function(jobj, className) {
  stopifnot(inherits(jobj, "jobj"))
  cls <- callJStatic("java.lang.Class", "forName", className)
  callJMethod(cls, "isInstance", jobj)
}

# Releases a reference now (instead of waiting for the garbage collector).
releaseJobj <- function(x) {
  stopifnot(inherits(x, "jobj"))
  if (isValidJobj(x) && !isTRUE(x$env$released)) {
    x$env$released <- TRUE
    .removeJObjects(x$id)
  }
  invisible(NULL)
}
