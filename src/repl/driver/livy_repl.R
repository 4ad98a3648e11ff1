# R side of livy-server's REPL driver: one long-lived R child per interactive session.
#
# The JVM driver (RInterpreter.scala) starts an RBackend inside itself and then this script with
#   EXISTING_SPARKR_BACKEND_PORT, SPARKR_BACKEND_AUTH_SECRET  (the RBackend, for this project's
#                                                              SparkR package)
#   LIVY_R_CONTROL_PORT, LIVY_R_CONTROL_SECRET                 (the control channel)
#   R_LIBS                                                     (where SparkR is installed)
# The script binds `spark`, `sc` and `sqlContext` on the JVM's existing SparkContext and runs
# statements. Control channel: JSON lines over one TCP connection to the JVM (never stdout, which
# native code may write to):
#   in:  {"op":"bind"} (once the JVM's SparkSession exists; R loads SparkR before that)
#        {"op":"execute","id","code","group","next_group"} {"op":"complete","req","code","cursor"}
#        {"op":"shutdown"}
#   out: {"op":"ready"} {"op":"init_error","error"} {"op":"log","line"}
#        {"op":"result","id","output"} {"op":"completion","req","candidates"}
# Cancel is SIGINT from the JVM (R turns it into an `interrupt` condition).

.livy <- new.env()

# ---------------------------------------------------------------- JSON (flat messages only)

.livy$json_string <- function(s) {
  s <- enc2utf8(as.character(s))
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  s <- gsub("\r", "\\r", s, fixed = TRUE)
  s <- gsub("\t", "\\t", s, fixed = TRUE)
  # Other control characters as \u00XX.
  chars <- utf8ToInt(s)
  if (length(chars) && any(chars < 32L)) {
    s <- paste(vapply(chars, function(ch) {
      if (ch < 32L) sprintf("\\u%04x", ch) else intToUtf8(ch)
    }, ""), collapse = "")
  }
  paste0("\"", s, "\"")
}

# Encodes NULL, scalars, unnamed lists/vectors (arrays) and named lists (objects).
.livy$to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x) && !is.null(names(x))) {
    fields <- vapply(names(x), function(n) paste0(.livy$json_string(n), ":", .livy$to_json(x[[n]])), "")
    return(paste0("{", paste(fields, collapse = ","), "}"))
  }
  if (is.list(x) || length(x) != 1L) {
    items <- vapply(seq_along(x), function(i) .livy$to_json(x[[i]]), "")
    return(paste0("[", paste(items, collapse = ","), "]"))
  }
  if (is.logical(x)) return(if (is.na(x)) "null" else if (x) "true" else "false")
  if (is.numeric(x)) return(if (is.na(x)) "null" else format(x, digits = 15, scientific = FALSE))
  .livy$json_string(x)
}

# Parses one flat JSON object of string, number, boolean and null values.
.livy$from_json <- function(line) {
  chars <- strsplit(line, "")[[1]]
  n <- length(chars)
  i <- 1L
  skip <- function() while (i <= n && chars[i] %in% c(" ", "\t", "\r", "\n")) i <<- i + 1L
  expect <- function(ch) {
    skip()
    if (i > n || chars[i] != ch) stop(sprintf("bad control message at %d: %s", i, substr(line, 1, 200)))
    i <<- i + 1L
  }
  read_string <- function() {
    expect("\"")
    out <- character()
    start <- i
    while (i <= n && chars[i] != "\"") {
      if (chars[i] == "\\") {
        if (i > start) out <- c(out, chars[start:(i - 1L)])
        e <- chars[i + 1L]
        if (e == "u") {
          out <- c(out, intToUtf8(strtoi(paste(chars[(i + 2L):(i + 5L)], collapse = ""), 16L)))
          i <- i + 6L
        } else {
          out <- c(out, switch(e, n = "\n", r = "\r", t = "\t", b = "\b", f = "\f", e))
          i <- i + 2L
        }
        start <- i
      } else {
        i <- i + 1L
      }
    }
    if (i > start) out <- c(out, chars[start:(i - 1L)])
    i <<- i + 1L
    paste(out, collapse = "")
  }
  read_value <- function() {
    skip()
    ch <- chars[i]
    if (ch == "\"") return(read_string())
    start <- i
    while (i <= n && !(chars[i] %in% c(",", "}", " "))) i <<- i + 1L
    tok <- paste(chars[start:(i - 1L)], collapse = "")
    switch(tok, true = TRUE, false = FALSE, null = NULL, as.numeric(tok))
  }
  out <- list()
  expect("{")
  skip()
  if (chars[i] == "}") return(out)
  repeat {
    key <- read_string()
    expect(":")
    value <- read_value()
    if (!is.null(value)) out[[key]] <- value
    skip()
    if (chars[i] == "}") break
    expect(",")
  }
  out
}

# ---------------------------------------------------------------- control channel

.livy$send <- function(msg) {
  writeLines(.livy$to_json(msg), .livy$ctrl, useBytes = TRUE)
  flush(.livy$ctrl)
}

# Diagnostics (R warnings included) go to the session log through the JVM, never to output.
.livy$log <- function(text) {
  for (line in strsplit(text, "\n", fixed = TRUE)[[1]]) .livy$send(list(op = "log", line = line))
}

# ---------------------------------------------------------------- Spark

# Before the JVM's SparkContext exists: load the package and open the backend connection.
.livy$load_sparkr <- function() {
  suppressPackageStartupMessages(library(SparkR))
  SparkR:::connectBackend("localhost", Sys.getenv("EXISTING_SPARKR_BACKEND_PORT"))
}

# Once the JVM says its SparkSession exists (never before: R would create one of its own).
.livy$bind_spark <- function() {
  spark <- SparkR::sparkR.session()
  sc <- get(".sparkRjsc", envir = SparkR:::.sparkREnv)
  assign("spark", spark, envir = globalenv())
  assign("sc", sc, envir = globalenv())
  assign("sqlContext", spark, envir = globalenv())
  # The session owns its SparkContext: stopping it from a statement would kill every kind.
  keep <- function(...) invisible(message("ignored in a Livy session: the session owns its SparkContext"))
  assign("sparkR.session.stop", keep, envir = globalenv())
  assign("sparkR.stop", keep, envir = globalenv())
  .livy$sc <- sc
  .livy$group <- NULL
}

# The job group of the next Spark calls: set through the backend connection, whose JVM thread
# runs every call of this R process.
.livy$set_group <- function(group) {
  if (!is.null(group) && !identical(group, .livy$group)) {
    SparkR:::callJMethod(.livy$sc, "setJobGroup", group, "Livy R statement", TRUE)
    .livy$group <- group
  }
}

# After an interrupt the SparkR client may have replaced its backend connection (a call cut short
# leaves a stale reply behind), and the new one may run on another JVM thread: set the job group
# again before the next statement.
.livy$forget_group <- function() .livy$group <- NULL

# ---------------------------------------------------------------- statements

.livy$trim <- function(s) sub("\\s+$", "", gsub("\033\\[[0-9;]*m", "", s))

.livy$traceback <- function(calls) {
  # The user's frames: everything below our eval of the top-level expression.
  at <- which(vapply(calls, function(c) identical(c[[1]], quote(eval)) &&
    identical(c[[3]], quote(globalenv())), FALSE))
  if (length(at)) calls <- calls[-seq_len(at[length(at)])]
  # Drop the condition machinery at the bottom.
  keep <- !vapply(calls, function(c) {
    f <- c[[1]]
    is.name(f) && as.character(f) %in% c("stop", "h", ".handleSimpleError", "doTryCatch",
      "withCallingHandlers", "signalCondition", "warning", ".signalSimpleWarning")
  }, FALSE)
  vapply(calls[keep], function(c) paste0(paste(deparse(c, nlines = 1L), collapse = ""), "\n"), "")
}

.livy$execute <- function(code) {
  buf <- character()
  out <- textConnection("buf", "w", local = TRUE)
  sink(out)
  sink(out, type = "message")
  plot_file <- tempfile("livy-plot-", fileext = ".png")
  grDevices::png(plot_file, width = 640, height = 480, type = "cairo")
  device <- grDevices::dev.cur()
  calls <- NULL
  failure <- tryCatch({
    exprs <- parse(text = code, keep.source = FALSE)
    withCallingHandlers({
      for (e in exprs) {
        r <- withVisible(eval(e, envir = globalenv()))
        if (r$visible) print(r$value)
      }
      NULL
    }, warning = function(w) {
      .livy$log(paste0("Warning: ", conditionMessage(w)))
      invokeRestart("muffleWarning")
    }, error = function(e) calls <<- sys.calls())
  }, error = function(e) e, interrupt = function(i) i)
  if (device %in% grDevices::dev.list()) grDevices::dev.off(device)
  sink(type = "message")
  sink()
  close(out)
  text <- .livy$trim(paste(buf, collapse = "\n"))
  if (inherits(failure, "interrupt")) {
    .livy$forget_group()
    unlink(plot_file)
    return(list(status = "error", ename = "Interrupted", evalue = "the statement was cancelled",
      traceback = list()))
  }
  if (inherits(failure, "error")) {
    unlink(plot_file)
    msg <- conditionMessage(failure)
    tb <- if (is.null(calls)) list() else as.list(.livy$traceback(calls))
    return(list(status = "error", ename = "Error", evalue = msg, traceback = tb))
  }
  data <- list(`text/plain` = text)
  if (file.exists(plot_file) && file.size(plot_file) > 0) data$`image/png` <- list(file = plot_file)
  list(status = "ok", data = data)
}

# ---------------------------------------------------------------- completion

.livy$complete <- function(code, cursor) {
  line <- substr(code, 1L, cursor)
  line <- sub(".*\n", "", line)
  rc <- asNamespace("utils")
  rc$.assignLinebuffer(line)
  rc$.assignEnd(nchar(line))
  token <- rc$.guessTokenFromLine()
  rc$.completeToken()
  found <- rc$.retrieveCompletions()
  unique(found[nzchar(found)])
}

# ---------------------------------------------------------------- main

.livy$main <- function() {
  port <- as.integer(Sys.getenv("LIVY_R_CONTROL_PORT"))
  .livy$ctrl <- socketConnection("127.0.0.1", port, blocking = TRUE, open = "r+b", timeout = 3600 * 24 * 365)
  writeLines(Sys.getenv("LIVY_R_CONTROL_SECRET"), .livy$ctrl)
  flush(.livy$ctrl)
  Sys.unsetenv("LIVY_R_CONTROL_SECRET")
  started <- proc.time()[["elapsed"]]
  ok <- tryCatch({
    .livy$load_sparkr()
    repeat {
      line <- readLines(.livy$ctrl, n = 1L, encoding = "UTF-8")
      if (length(line) == 0L) quit(save = "no", status = 1) # the JVM is gone
      if (identical(.livy$from_json(line)$op, "bind")) break
    }
    .livy$bind_spark()
    TRUE
  }, error = function(e) {
    .livy$send(list(op = "init_error", error = conditionMessage(e)))
    FALSE
  })
  if (!ok) quit(save = "no", status = 1)
  .livy$send(list(op = "ready"))
  .livy$log(sprintf("livy_repl.R: ready in %.2f s (%s)", proc.time()[["elapsed"]] - started, R.version.string))
  repeat {
    # An interrupt meant for a statement that just ended lands here: ignore it.
    line <- tryCatch(readLines(.livy$ctrl, n = 1L, encoding = "UTF-8"), interrupt = function(i) NA)
    if (identical(line, NA)) next
    if (length(line) == 0L) break # the JVM is gone
    msg <- tryCatch(.livy$from_json(line), error = function(e) {
      .livy$log(conditionMessage(e))
      NULL
    })
    if (is.null(msg)) next
    op <- msg$op
    if (identical(op, "execute")) {
      output <- tryCatch({
        .livy$set_group(msg$group)
        .livy$execute(msg$code)
      }, error = function(e) list(status = "error", ename = "Error", evalue = conditionMessage(e),
        traceback = list()), interrupt = function(i) list(status = "error", ename = "Interrupted",
        evalue = "the statement was cancelled", traceback = list()))
      tryCatch(.livy$send(list(op = "result", id = msg$id, output = output)), interrupt = function(i) NULL)
      # Ahead of the next statement, while the answer travels to the client.
      tryCatch(.livy$set_group(msg$next_group), error = function(e) .livy$forget_group(),
        interrupt = function(i) .livy$forget_group())
    } else if (identical(op, "complete")) {
      cands <- tryCatch(.livy$complete(msg$code, as.integer(msg$cursor)), error = function(e) character())
      .livy$send(list(op = "completion", req = msg$req, candidates = as.list(cands)))
    } else if (identical(op, "shutdown")) {
      break
    }
  }
  invisible(NULL)
}

.livy$main()
quit(save = "no", status = 0)
