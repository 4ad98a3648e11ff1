# Closure capture for functions shipped to R workers.
#
# A function sent to an executor is serialized with R's serialize().  Its
# environment would drag along whatever it references by pointer (often the
# whole global environment is only a reference, so the worker would see an
# empty one).  .cleanClosure() rewrites the function's environment into a
# fresh one that holds the values of the function's free variables:
#
#  * names bound in the function's own enclosing frames and in the user's
#    global environment are copied (functions found there are cleaned
#    recursively, so helper functions travel with their own free variables);
#  * names that resolve to a package on the search path other than the
#    packages every R session attaches are copied too (a package function
#    keeps its namespace as environment, which serialize() writes as a
#    reference: the worker loads that namespace from its own library);
#  * names from base/stats/utils/methods/graphics/grDevices/datasets and from
#    SparkR itself are left to the worker's search path.
#
# The new environment's parent is the global environment (for functions
# written by the user) or the package namespace the original chain ended in
# (for closures built inside a package such as SparkR itself), so internal
# helpers of that package stay reachable on the worker.

.sparkRDefaultPackages <- c("base", "stats", "utils", "methods", "graphics",
                            "grDevices", "datasets", "SparkR")

# Names a function body uses without binding them itself.
.closureFreeNames <- function(func) {
  used <- new.env(parent = emptyenv())
  bound <- new.env(parent = emptyenv())
  mark <- function(env, name) {
    if (is.character(name) && length(name) == 1L && nzchar(name)) {
      assign(name, TRUE, envir = env)
    }
  }
  walk <- function(e) {
    if (identical(e, quote(expr = ))) return(invisible())
    if (is.symbol(e)) {
      mark(used, as.character(e))
      return(invisible())
    }
    if (is.pairlist(e) || is.list(e)) {
      l <- as.list(e)
      for (i in seq_along(l)) walk(l[[i]])
      return(invisible())
    }
    if (!is.call(e)) return(invisible())
    head <- e[[1L]]
    args <- as.list(e)[-1L]
    name <- if (is.symbol(head)) as.character(head) else ""
    if (name %in% c("::", ":::", "quote", "~")) return(invisible())
    if (name %in% c("$", "@")) {
      if (length(args) >= 1L) walk(args[[1L]])
      return(invisible())
    }
    if (name == "function") {
      fmls <- args[[1L]]
      for (n in names(fmls)) mark(bound, n)
      walk(fmls)
      if (length(args) >= 2L) walk(args[[2L]])
      return(invisible())
    }
    if (name %in% c("<-", "=", "<<-", "->", "->>") && length(args) == 2L) {
      lhs <- args[[1L]]
      rhs <- args[[2L]]
      if (name %in% c("->", "->>")) {
        tmp <- lhs
        lhs <- rhs
        rhs <- tmp
      }
      if (is.symbol(lhs) || is.character(lhs)) {
        if (!(name %in% c("<<-", "->>"))) mark(bound, as.character(lhs))
      } else {
        walk(lhs)
      }
      walk(rhs)
      return(invisible())
    }
    if (name == "for" && length(args) == 3L) {
      if (is.symbol(args[[1L]])) mark(bound, as.character(args[[1L]]))
      walk(args[[2L]])
      walk(args[[3L]])
      return(invisible())
    }
    walk(head)
    for (i in seq_along(args)) walk(args[[i]])
    invisible()
  }
  fmls <- formals(func)
  for (n in names(fmls)) mark(bound, n)
  walk(fmls)
  walk(body(func))
  names <- setdiff(ls(used, all.names = TRUE), ls(bound, all.names = TRUE))
  names[!(names %in% c("...", "")) & !grepl("^\\.\\.[0-9]+$", names)]
}

# Environments where the search for captured values stops.
.isTerminalEnv <- function(env) {
  identical(env, emptyenv()) || identical(env, baseenv()) ||
    isNamespace(env) || identical(env, .BaseNamespaceEnv) ||
    (!identical(env, globalenv()) && nzchar(environmentName(env)) &&
       (startsWith(environmentName(env), "package:") ||
          environmentName(env) %in% search()))
}

# Which attached package (other than the default ones) provides `name`,
# as seen from the global environment; NULL when none does.
.attachedPackageValue <- function(name) {
  s <- search()
  for (i in seq_along(s)[-1L]) {
    if (!startsWith(s[i], "package:")) next
    pkg <- substring(s[i], 9L)
    if (pkg %in% .sparkRDefaultPackages) next
    env <- as.environment(i)
    if (exists(name, envir = env, inherits = FALSE)) {
      return(list(value = get(name, envir = env, inherits = FALSE)))
    }
  }
  NULL
}

.isCleanedEnv <- function(env) {
  is.environment(env) && isTRUE(attr(env, "sparkr.cleaned"))
}

# Returns `func` with an environment holding copies of its free variables.
.cleanClosure <- function(func, memo = NULL) {
  if (!is.function(func) || is.primitive(func)) return(func)
  fenv <- environment(func)
  if (is.null(fenv) || .isTerminalEnv(fenv) || .isCleanedEnv(fenv)) return(func)
  if (is.null(memo)) {
    memo <- new.env(parent = emptyenv())
    memo$orig <- list()
    memo$done <- list()
  }
  for (i in seq_along(memo$orig)) {
    if (identical(memo$orig[[i]], func)) return(memo$done[[i]])
  }

  # Walk the enclosing chain once: local frames, then (maybe) the globals.
  chain <- list()
  e <- fenv
  parentEnv <- globalenv()
  repeat {
    if (.isTerminalEnv(e)) {
      if (isNamespace(e)) parentEnv <- e
      break
    }
    chain[[length(chain) + 1L]] <- e
    if (identical(e, globalenv())) break
    e <- parent.env(e)
  }
  reachesGlobal <- any(vapply(chain, identical, logical(1), globalenv()))

  newEnv <- new.env(parent = parentEnv)
  attr(newEnv, "sparkr.cleaned") <- TRUE
  cleaned <- func
  if (!is.null(attr(cleaned, "srcref"))) cleaned <- utils::removeSource(cleaned)
  environment(cleaned) <- newEnv
  memo$orig[[length(memo$orig) + 1L]] <- func
  memo$done[[length(memo$done) + 1L]] <- cleaned

  for (name in .closureFreeNames(func)) {
    found <- FALSE
    value <- NULL
    for (env in chain) {
      if (exists(name, envir = env, inherits = FALSE)) {
        value <- get(name, envir = env, inherits = FALSE)
        found <- TRUE
        break
      }
    }
    if (!found && (reachesGlobal || identical(parentEnv, globalenv()))) {
      pv <- .attachedPackageValue(name)
      if (!is.null(pv)) {
        value <- pv$value
        found <- TRUE
      }
    }
    if (!found) next
    if (is.function(value)) value <- .cleanClosure(value, memo)
    assign(name, value, envir = newEnv)
  }
  # The memo may have handed out `cleaned` before the loop finished; the
  # environment is shared, so those copies see every captured value.
  cleaned
}
