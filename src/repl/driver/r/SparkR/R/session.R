# Sessions: connecting to the RBackend and getting the SparkContext and
# SparkSession.

.sqlUtils <- "org.apache.spark.sql.api.r.SQLUtils"

# Connects to the backend if not yet connected.  With
# EXISTING_SPARKR_BACKEND_PORT set, that backend is used; otherwise a backend
# is launched with spark-submit (sparkr-shell) from sparkHome.
.ensureBackend <- function(master = "", sparkHome = Sys.getenv("SPARK_HOME"),
                           sparkConfigMap = new.env(), sparkJars = "",
                           sparkPackages = "") {
  if (!is.null(.sparkREnv$backend)) return(invisible(.sparkREnv$backend))
  existingPort <- Sys.getenv("EXISTING_SPARKR_BACKEND_PORT", "")
  if (nzchar(existingPort)) {
    return(invisible(connectBackend("localhost", existingPort,
                                    authSecret = Sys.getenv("SPARKR_BACKEND_AUTH_SECRET"))))
  }
  .launchBackend(master, sparkHome, sparkConfigMap, sparkJars, sparkPackages)
}

# Starts `spark-submit ... sparkr-shell <file>`: the JVM runs RBackend, which
# writes its port, a monitor port, the R library dir, the connection timeout
# and the auth secret to <file>.  R keeps the monitor connection open for the JVM's lifetime.
.launchBackend <- function(master, sparkHome, sparkConfigMap, sparkJars, sparkPackages) {
  if (!nzchar(sparkHome)) {
    stop("SPARK_HOME is not set and no EXISTING_SPARKR_BACKEND_PORT is given", call. = FALSE)
  }
  submit <- file.path(sparkHome, "bin", "spark-submit")
  if (!file.exists(submit)) stop("cannot find ", submit, call. = FALSE)
  infoFile <- tempfile(pattern = "sparkr-backend-", fileext = ".info")
  args <- character(0)
  if (nzchar(master)) args <- c(args, "--master", shQuote(master))
  conf <- envToList(sparkConfigMap)
  for (k in names(conf)) {
    if (k %in% c("spark.master")) next
    if (k == "spark.driver.memory") {
      args <- c(args, "--driver-memory", shQuote(conf[[k]]))
    } else {
      args <- c(args, "--conf", shQuote(paste0(k, "=", conf[[k]])))
    }
  }
  if (nzchar(paste(sparkJars, collapse = ""))) {
    args <- c(args, "--jars", shQuote(paste(sparkJars, collapse = ",")))
  }
  if (nzchar(paste(sparkPackages, collapse = ""))) {
    args <- c(args, "--packages", shQuote(paste(sparkPackages, collapse = ",")))
  }
  extra <- Sys.getenv("SPARKR_SUBMIT_ARGS", "sparkr-shell")
  cmd <- paste(c(shQuote(submit), args, extra, shQuote(infoFile)), collapse = " ")
  system(cmd, wait = FALSE)
  deadline <- Sys.time() + as.numeric(Sys.getenv("SPARKR_BACKEND_START_TIMEOUT", "120"))
  while (!file.exists(infoFile) || file.info(infoFile)$size < 8) {
    if (Sys.time() > deadline) stop("the Spark backend did not start in time", call. = FALSE)
    Sys.sleep(0.2)
  }
  Sys.sleep(0.1)
  f <- file(infoFile, open = "rb")
  backendPort <- readInt(f)
  monitorPort <- readInt(f)
  rLibPath <- readString(f)
  timeoutFromJvm <- readInt(f)
  authSecret <- readString(f)
  close(f)
  unlink(infoFile)
  if (length(timeoutFromJvm) == 1L && timeoutFromJvm > 0L &&
      !nzchar(Sys.getenv("SPARKR_BACKEND_CONNECTION_TIMEOUT"))) {
    Sys.setenv(SPARKR_BACKEND_CONNECTION_TIMEOUT = timeoutFromJvm)
  }
  monitor <- socketConnection(port = monitorPort, blocking = TRUE, open = "wb",
                              timeout = .connectionTimeout())
  writeString(monitor, authSecret)
  flush(monitor)
  if (!identical(readString(monitor), "ok")) stop("backend monitor authentication failed")
  .sparkREnv$monitorConn <- monitor
  .sparkREnv$backendLaunched <- TRUE
  .sparkREnv$rLibPath <- rLibPath
  connectBackend("localhost", backendPort, authSecret = authSecret)
}

# The JavaSparkContext: the one already known, one derived from the
# session, or a new one (SparkContext.getOrCreate in the JVM reuses a
# running context).
sparkR.sparkContext <- function(master = "", appName = "SparkR",
                                sparkHome = Sys.getenv("SPARK_HOME"),
                                sparkEnvirMap = new.env(),
                                sparkExecutorEnvMap = new.env(),
                                sparkJars = "", sparkPackages = "") {
  if (!is.null(.sparkREnv$.sparkRjsc)) return(.sparkREnv$.sparkRjsc)
  .ensureBackend(master, sparkHome, sparkEnvirMap, sparkJars, sparkPackages)
  if (!is.null(.sparkREnv$.sparkRsession)) {
    jsc <- callJStatic(.sqlUtils, "getJavaSparkContext", .sparkREnv$.sparkRsession)
  } else {
    jars <- as.character(unlist(strsplit(paste(sparkJars, collapse = ","), ",")))
    jars <- trimws(jars[nzchar(trimws(jars))])
    if (!exists("spark.r.sql.derby.temp.dir", envir = sparkEnvirMap)) {
      assign("spark.r.sql.derby.temp.dir", tempdir(), envir = sparkEnvirMap)
    }
    # A String[] must arrive as an array even with one element.
    jarArray <- if (length(jars) == 0L) character(0) else as.list(jars)
    jsc <- callJStatic("org.apache.spark.api.r.RRDD", "createSparkContext",
                       master, appName, as.character(sparkHome), jarArray,
                       sparkEnvirMap, sparkExecutorEnvMap)
  }
  .sparkREnv$.sparkRjsc <- jsc
  .sparkREnv$sc <- jsc
  jsc
}

getJavaSparkContext <- function() {
  jsc <- .sparkREnv$.sparkRjsc
  if (!is.null(jsc)) return(jsc)
  if (!is.null(.sparkREnv$.sparkRsession)) {
    jsc <- callJStatic(.sqlUtils, "getJavaSparkContext", .sparkREnv$.sparkRsession)
    .sparkREnv$.sparkRjsc <- jsc
    return(jsc)
  }
  stop("SparkR is not initialized: call sparkR.session() first", call. = FALSE)
}

getSparkSession <- function() {
  s <- .sparkREnv$.sparkRsession
  if (is.null(s)) stop("SparkSession not initialized: call sparkR.session() first", call. = FALSE)
  s
}

sparkR.session <- function(master = "", appName = "SparkR",
                           sparkHome = Sys.getenv("SPARK_HOME"),
                           sparkConfig = list(), sparkJars = "", sparkPackages = "",
                           enableHiveSupport = TRUE, ...) {
  sparkConfigMap <- convertNamedListToEnv(lapply(sparkConfig, .toOptionString))
  named <- list(...)
  if (length(named) > 0L) {
    params <- lapply(named, .toOptionString)
    if (!is.null(params[["spark.master"]])) master <- params[["spark.master"]]
    if (!is.null(params[["spark.app.name"]])) appName <- params[["spark.app.name"]]
    for (k in names(params)) assign(k, params[[k]], envir = sparkConfigMap)
  }
  if (is.null(.sparkREnv$.sparkRjsc) && is.null(.sparkREnv$.sparkRsession)) {
    sparkR.sparkContext(master, appName, sparkHome, sparkConfigMap, new.env(),
                        sparkJars, sparkPackages)
  } else {
    .ensureBackend(master, sparkHome, sparkConfigMap, sparkJars, sparkPackages)
  }
  if (!is.null(.sparkREnv$.sparkRsession)) {
    session <- .sparkREnv$.sparkRsession
    if (length(ls(sparkConfigMap)) > 0L) {
      callJStatic(.sqlUtils, "setSparkContextSessionConf", session, sparkConfigMap)
    }
  } else {
    session <- callJStatic(.sqlUtils, "getOrCreateSparkSession", getJavaSparkContext(),
                           sparkConfigMap, isTRUE(enableHiveSupport))
    .sparkREnv$.sparkRsession <- session
  }
  .sparkREnv$spark <- session
  invisible(session)
}

# Old entry points (SparkR 1.x).
sparkR.init <- function(master = "", appName = "SparkR",
                        sparkHome = Sys.getenv("SPARK_HOME"),
                        sparkEnvir = list(), sparkExecutorEnv = list(),
                        sparkJars = "", sparkPackages = "") {
  if (!is.null(.sparkREnv$.sparkRjsc)) return(.sparkREnv$.sparkRjsc)
  sparkR.sparkContext(master, appName, sparkHome,
                      convertNamedListToEnv(lapply(sparkEnvir, .toOptionString)),
                      convertNamedListToEnv(lapply(sparkExecutorEnv, .toOptionString)),
                      sparkJars, sparkPackages)
}

sparkRSQL.init <- function(jsc = NULL) {
  if (!is.null(.sparkREnv$.sparkRsession)) return(.sparkREnv$.sparkRsession)
  sparkR.session(enableHiveSupport = FALSE)
}

sparkRHive.init <- function(jsc = NULL) {
  if (!is.null(.sparkREnv$.sparkRsession)) return(.sparkREnv$.sparkRsession)
  sparkR.session(enableHiveSupport = TRUE)
}

sparkR.session.stop <- function() {
  env <- .sparkREnv
  if (!is.null(env$backend)) {
    jsc <- env$.sparkRjsc
    if (is.null(jsc) && !is.null(env$.sparkRsession)) {
      jsc <- tryCatch(getJavaSparkContext(), error = function(e) NULL)
    }
    if (!is.null(jsc)) try(callJMethod(jsc, "stop"), silent = TRUE)
    if (isTRUE(env$backendLaunched)) {
      try(callJStatic("SparkRHandler", "stopBackend"), silent = TRUE)
    }
    try(close(env$backend), silent = TRUE)
  }
  if (!is.null(env$monitorConn)) try(close(env$monitorConn), silent = TRUE)
  for (v in c("backend", "monitorConn", ".sparkRjsc", ".sparkRsession", "sc", "spark",
              "backendLaunched", "backendPort")) {
    if (exists(v, envir = env, inherits = FALSE)) rm(list = v, envir = env)
  }
  # References from this connection are no longer valid.
  env$backendGeneration <- env$backendGeneration + 1L
  .clearPendingRemovals()
  invisible(NULL)
}

sparkR.stop <- function() sparkR.session.stop()

sparkR.version <- function() {
  callJMethod(getSparkSession(), "version")
}

sparkR.uiWebUrl <- function() {
  url <- callJMethod(callJMethod(getJavaSparkContext(), "sc"), "uiWebUrl")
  if (callJMethod(url, "isDefined")) callJMethod(url, "get") else NULL
}

setLogLevel <- function(level) {
  callJMethod(getJavaSparkContext(), "setLogLevel", level)
  invisible(NULL)
}

# All session settings as a named list, or the values of the given keys.
sparkR.conf <- function(key, defaultValue) {
  session <- getSparkSession()
  if (missing(key)) {
    return(envToList(callJStatic(.sqlUtils, "getSessionConf", session)))
  }
  conf <- callJMethod(session, "conf")
  value <- if (missing(defaultValue)) {
    tryCatch(callJMethod(conf, "get", key), error = function(e) {
      stop(paste0("Config '", key, "' is not set"), call. = FALSE)
    })
  } else {
    callJMethod(conf, "get", key, defaultValue)
  }
  stats::setNames(list(value), key)
}

sparkR.callJMethod <- function(x, methodName, ...) callJMethod(x, methodName, ...)
sparkR.callJStatic <- function(x, methodName, ...) callJStatic(x, methodName, ...)
sparkR.newJObject <- function(x, ...) newJObject(x, ...)
