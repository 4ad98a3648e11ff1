# Client of Spark's RBackend (org.apache.spark.api.r.RBackend).
#
# A request is one frame: int32 length, then isStatic (bool), object id or
# class name, method name, int32 argument count and the typed arguments.
# A reply starts with an int32 status: 0 a typed value follows, +1 a
# keep-alive (read again), anything else an error string follows.

.connectionTimeout <- function() {
  t <- suppressWarnings(as.numeric(Sys.getenv("SPARKR_BACKEND_CONNECTION_TIMEOUT", "6000")))
  if (is.na(t) || t <= 0) 6000 else t
}

# Opens the socket, runs the auth handshake and installs the connection as
# .sparkREnv$backend.  Returns the connection.
connectBackend <- function(hostname = "localhost", port,
                           timeout = .connectionTimeout(),
                           authSecret = Sys.getenv("SPARKR_BACKEND_AUTH_SECRET")) {
  port <- as.integer(port)
  if (is.na(port)) stop("invalid RBackend port")
  if (!is.null(.sparkREnv$backend)) {
    try(close(.sparkREnv$backend), silent = TRUE)
    .sparkREnv$backend <- NULL
  }
  con <- socketConnection(host = hostname, port = port, server = FALSE,
                          blocking = TRUE, open = "wb", timeout = timeout)
  if (nzchar(authSecret)) {
    ok <- tryCatch({
      writeString(con, authSecret)
      flush(con)
      readString(con)
    }, error = function(e) paste("error:", conditionMessage(e)))
    if (!identical(ok, "ok")) {
      close(con)
      stop("RBackend authentication failed (", ok, ")")
    }
  }
  # A new backend invalidates references from an earlier one.
  .sparkREnv$backendGeneration <- .sparkREnv$backendGeneration + 1L
  .clearPendingRemovals()
  .sparkREnv$backend <- con
  .sparkREnv$backendHost <- hostname
  .sparkREnv$backendPort <- port
  .sparkREnv$backendSecret <- authSecret
  invisible(con)
}

# Replaces the socket with a fresh connection to the same backend, keeping
# object references valid (the JVM's object tracker belongs to the backend,
# not to a connection).  Used when a call was abandoned midway (interrupt,
# timeout), which leaves an unread or half-read reply on the old socket.
.reconnectBackend <- function() {
  old <- .sparkREnv$backend
  .sparkREnv$backend <- NULL
  if (!is.null(old)) try(close(old), silent = TRUE)
  port <- .sparkREnv$backendPort
  if (is.null(port)) return(invisible(NULL))
  generation <- .sparkREnv$backendGeneration
  ok <- tryCatch({
    connectBackend(.sparkREnv$backendHost, port, authSecret = .sparkREnv$backendSecret)
    TRUE
  }, error = function(e) FALSE)
  if (ok) .sparkREnv$backendGeneration <- generation
  invisible(ok)
}

isBackendConnected <- function() {
  !is.null(.sparkREnv$backend)
}

.getBackend <- function() {
  con <- .sparkREnv$backend
  if (is.null(con)) {
    port <- Sys.getenv("EXISTING_SPARKR_BACKEND_PORT", "")
    if (nzchar(port)) {
      con <- connectBackend("localhost", port)
    } else {
      stop("not connected to a Spark backend: call sparkR.session() first", call. = FALSE)
    }
  }
  con
}

# Serialize one request into a raw frame (length prefix included).
.encodeRequest <- function(isStatic, objId, methodName, args) {
  rc <- rawConnection(raw(0), "r+b")
  on.exit(close(rc))
  writeBoolean(rc, isStatic)
  writeString(rc, objId)
  writeString(rc, methodName)
  writeInt(rc, length(args))
  writeArgs(rc, args)
  body <- rawConnectionValue(rc)
  c(writeBin(length(body), raw(), size = 4L, endian = "big"), body)
}

# Reads a status, skipping keep-alives.  Returns the final status.
.readStatus <- function(con) {
  repeat {
    status <- readInt(con)
    if (length(status) == 0L) {
      stop("no reply from the Spark backend (connection closed or timed out)", call. = FALSE)
    }
    if (status != 1L) return(status)
    .sparkREnv$heartbeats <- (if (is.null(.sparkREnv$heartbeats)) 0L else .sparkREnv$heartbeats) + 1L
  }
}

# Releases queued object ids: all rm frames go out in one write, then their
# replies are read.
.removeJObjects <- function(ids) {
  if (length(ids) == 0L) return(invisible(NULL))
  con <- .sparkREnv$backend
  if (is.null(con)) return(invisible(NULL))
  frames <- lapply(ids, function(id) .encodeRequest(TRUE, "SparkRHandler", "rm", list(id)))
  writeBin(unlist(frames, use.names = FALSE), con)
  flush(con)
  for (i in seq_along(ids)) {
    status <- .readStatus(con)
    if (status == 0L) readObject(con) else readString(con)
  }
  invisible(NULL)
}

.flushRemovals <- function() {
  ids <- .takePendingRemovals()
  if (length(ids)) .removeJObjects(ids)
  invisible(NULL)
}

.jvmErrorCondition <- function(jvmMessage, call, target, methodName) {
  msg <- jvmMessage
  if (!nzchar(msg)) {
    msg <- paste0("no method or constructor ", target, ".", methodName,
                  " matches the given argument types, or it failed")
  }
  # The first lines up to the stack trace carry the exception and message.
  lines <- strsplit(msg, "\n", fixed = TRUE)[[1]]
  atLine <- grep("^\\s+at ", lines)
  head <- if (length(atLine)) lines[seq_len(atLine[1] - 1L)] else lines
  if (length(head) == 0L) head <- lines[1]
  if (length(head) > 20L) head <- c(head[1:20], "...")
  short <- paste(head, collapse = "\n")
  if (nchar(short) > 4000L) short <- paste0(substr(short, 1L, 4000L), " ...")
  structure(
    class = c("jvmError", "error", "condition"),
    list(message = paste0(methodName, " on ", target, " failed: ", short),
         call = call, jvmMessage = msg))
}

invokeJava <- function(isStatic, objId, methodName, ...) {
  con <- .getBackend()
  frame <- .encodeRequest(isStatic, objId, methodName, list(...))
  # If this call is abandoned before its reply is fully read (interrupt,
  # timeout, broken stream), the socket is out of step: reconnect.
  complete <- FALSE
  on.exit(if (!complete) .reconnectBackend())
  .flushRemovals()
  writeBin(frame, con)
  flush(con)
  status <- .readStatus(con)
  if (status == 0L) {
    value <- readObject(con)
    complete <- TRUE
    return(value)
  }
  jvmMessage <- tryCatch(readString(con), error = function(e) "")
  complete <- TRUE
  stop(.jvmErrorCondition(jvmMessage, sys.call(-1L), objId, methodName))
}

callJStatic <- function(className, methodName, ...) {
  invokeJava(isStatic = TRUE, className, methodName, ...)
}

callJMethod <- function(objJ, methodName, ...) {
  if (!inherits(objJ, "jobj")) {
    stop("callJMethod: the object is not a jobj", call. = FALSE)
  }
  if (!isValidJobj(objJ)) {
    stop("invalid jobj ", objJ$id,
         ": it came from an earlier backend connection", call. = FALSE)
  }
  invokeJava(isStatic = FALSE, objJ$id, methodName, ...)
}

newJObject <- function(className, ...) {
  invokeJava(isStatic = TRUE, className, "<init>", ...)
}

# SparkR's names for the same calls.
handledCallJStatic <- function(className, methodName, ...) {
  callJStatic(className, methodName, ...)
}

handledCallJMethod <- function(objJ, methodName, ...) {
  callJMethod(objJ, methodName, ...)
}

# Round trip through SparkRHandler.echo.
backendEcho <- function(x) {
  callJStatic("SparkRHandler", "echo", x)
}
