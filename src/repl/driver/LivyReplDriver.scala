package org.livyserver.repl

import java.io.File
import java.nio.file.{Files, Path, Paths}
import java.util.Comparator
import java.util.concurrent.CompletableFuture

import org.apache.spark.SparkConf
import org.apache.spark.sql.SparkSession

/**
 * The program inside the Spark application of an interactive session (spark-submit --class
 * org.livyserver.repl.LivyReplDriver). It owns the SparkSession and hosts Scala (IMain),
 * Python (one child process over py4j), R (one child over an RBackend) and SQL on that one
 * context, and dials the server.
 *
 * Startup, by session kind:
 *  - spark/shared (Scala first, REPL-NOTES order): compiler -> REPL class loader as context
 *    loader -> SparkSession with spark.repl.class.outputDir -> hello -> bind spark/sc -> idle.
 *  - pyspark: launch the Python child (it imports pyspark meanwhile) -> SparkSession -> hello
 *    -> child wraps the context -> idle. Scala starts on the first Scala statement.
 *  - sparkr: RBackend + R child (loads SparkR meanwhile) -> SparkSession -> hello -> R binds
 *    to the context -> idle.
 *  - sql: SparkSession -> hello -> idle.
 */
object LivyReplDriver {
  @volatile private var spark: SparkSession = _
  @volatile private var interpreters: Interpreters = _

  def main(args: Array[String]): Unit = {
    val t0 = System.nanoTime()
    def elapsed = f"${(System.nanoTime() - t0) / 1e9}%.2f s"
    val sparkConf = new SparkConf()
    if (sparkConf.getBoolean("spark.livy.cds.training", false)) train(sparkConf)
    val conf = DriverConf.load(sparkConf)
    Log.info(s"session ${conf.sessionId}, kind ${conf.kind}, servers ${conf.callbacks.map { case (h, p) => s"$h:$p" }.mkString(",")}")
    Log.info(s"Spark ${org.apache.spark.SPARK_VERSION}, Scala ${scala.util.Properties.versionNumberString}, " +
      s"Java ${System.getProperty("java.version")}")

    // The REPL's class dir must be known to the SparkContext from its start, even if the
    // compiler comes later: the context serves it to executors as spark.repl.class.uri.
    val outputDir = replClassDir(sparkConf)
    sparkConf.set("spark.repl.class.outputDir", outputDir.getAbsolutePath)
    val parentLoader = Thread.currentThread().getContextClassLoader
    val userJars = interpreterClassPath(sparkConf)
    val sessionFuture = new CompletableFuture[SparkSession]()

    var replAware: Option[ReplAwareClassLoader] = None
    var earlyScala: Option[Either[Throwable, ScalaInterpreter]] = None
    if (conf.scalaFirst) {
      val si = new ScalaInterpreter(outputDir, userJars, parentLoader)
      val started = try Right(si.start()) catch { case e: Exception => Log.error("scala compiler failed", e); Left(e) }
      started match {
        case Right(loader) =>
          Thread.currentThread().setContextClassLoader(loader)
          earlyScala = Some(Right(si))
        case Left(e) =>
          earlyScala = Some(Left(e))
      }
      Log.info(s"scala compiler ready after $elapsed")
    }
    if (!earlyScala.exists(_.isRight)) {
      // Threads Spark creates now inherit this loader; it learns the REPL's loader later.
      val ra = new ReplAwareClassLoader(parentLoader)
      Thread.currentThread().setContextClassLoader(ra)
      replAware = Some(ra)
    }
    interpreters = new Interpreters(conf, sparkConf, outputDir, userJars, parentLoader, replAware, sessionFuture)
    earlyScala.foreach(interpreters.setScala)

    val earlyPython = if (conf.kind == "pyspark") {
      try Some(Right(interpreters.launchPython())) catch { case e: Exception => Some(Left(e)) }
    } else None
    // R loads SparkR while the SparkContext starts; it binds once the session exists.
    val earlyR = if (conf.kind == "sparkr") {
      try Some(Right(interpreters.launchR())) catch { case e: Exception => Some(Left(e)) }
    } else None

    try {
      spark = SparkSession.builder().config(sparkConf).getOrCreate()
    } catch {
      case e: Throwable =>
        Log.error("cannot create the SparkSession", e)
        interpreters.closeAll()
        earlyPython.flatMap(_.toOption).foreach(_.kill())
        earlyR.flatMap(_.toOption).foreach(_.kill())
        sys.exit(1)
    }
    sessionFuture.complete(spark)
    val sc = spark.sparkContext
    Log.info(s"SparkContext ${sc.applicationId} ready after $elapsed")
    sys.addShutdownHook(deleteRecursively(outputDir.toPath))

    val session = new Session(conf, interpreters, () => sc)
    val jobs = new Jobs(interpreters, () => spark, parentLoader, userJars)
    session.attachJobs(jobs)
    val link = new ServerLink(conf.callbacks, conf.idleTimeoutMs,
      () => hello(conf, spark), session.onConnected, session.onMessage, () => stopSpark())
    session.attach(link)
    jobs.attach(link)
    link.start() // hello, as soon as the context exists
    session.start() // statements queue up until markReady
    Log.info(s"connected to server after $elapsed")

    var primaryFailed = false
    earlyScala.foreach {
      case Right(si) =>
        try si.bindSpark(spark) catch {
          case e: Exception =>
            Log.error("scala interpreter setup failed", e)
            interpreters.setScala(Left(e))
            primaryFailed = true
        }
      case Left(_) => primaryFailed = true
    }
    // A pooled driver starts Python once Scala is bound: the Python child's
    // first calls into the JVM, run while the compiler binds the session,
    // made the compiler fail (scala 2.13: "cannot find T1 in Function2").
    val pooledPython = if (conf.pooled && !primaryFailed) {
      Some(try Right(interpreters.launchPython()) catch { case e: Exception => Left(e) })
    } else None
    var python: Option[PythonInterpreter] = None
    (earlyPython ++ pooledPython).foreach { launched =>
      val ready = launched.flatMap(py => interpreters.startChild("python", py))
      interpreters.setPython(ready)
      python = ready.toOption
      primaryFailed = ready.isLeft
    }
    earlyR.foreach { launched =>
      val ready = launched.flatMap { r => r.bind(); interpreters.startChild("R", r) }
      interpreters.setR(ready)
      primaryFailed = ready.isLeft
    }
    if (conf.pooled && !primaryFailed && conf.rScript.nonEmpty && conf.rLib.nonEmpty) {
      // R too, where the server has it; if it fails, R starts on first use as in any session.
      val ready = (try Right(interpreters.launchR()) catch { case e: Exception => Left(e) }).flatMap { r =>
        try { r.bind(); interpreters.startChild("R", r) } catch { case e: Exception => r.kill(); Left(e) }
      }
      ready match {
        case Right(_) => interpreters.setR(ready); Log.info(s"pooled driver: R ready after $elapsed")
        case Left(e) => Log.warn(s"pooled driver: R did not start ($e); it starts on first use")
      }
    }
    if (conf.pooled && !primaryFailed) {
      // A pooled driver waits for its user warm: a first job through each
      // interpreter, so that session's first statements find the JIT warm.
      val warm = "spark.range(1000).count()"
      earlyScala.flatMap(_.toOption).foreach(si => scala.util.Try(si.execute(-1, warm)))
      python.foreach(py => scala.util.Try(py.execute(-2, warm)))
      Log.info(s"pooled driver warmed after $elapsed")
    }
    session.markReady(if (primaryFailed) "error" else "idle")
    Log.info(s"ready after $elapsed")
    // Our threads are daemons, and spark-submit stops the context when main returns: main
    // lives until shutdown, the idle timeout or a rejection ends the JVM with System.exit.
    new java.util.concurrent.CountDownLatch(1).await()
  }

  /**
   * The class-data-sharing training run (spark.livy.cds.training): loads what a session's
   * startup and first statements load (the Scala compiler, a SparkSession, a first job, SQL),
   * then exits so that the JVM writes its archive (-XX:ArchiveClassesAtExit). No server.
   */
  private def train(sparkConf: SparkConf): Unit = {
    Log.info(s"class-data training run: Spark ${org.apache.spark.SPARK_VERSION}, Scala ${scala.util.Properties.versionNumberString}")
    val outputDir = replClassDir(sparkConf)
    sparkConf.set("spark.repl.class.outputDir", outputDir.getAbsolutePath)
    val si = new ScalaInterpreter(outputDir, Nil, Thread.currentThread().getContextClassLoader)
    Thread.currentThread().setContextClassLoader(si.start())
    val spark = SparkSession.builder().config(sparkConf).getOrCreate()
    si.bindSpark(spark)
    si.execute(1, "spark.range(1000).count()")
    spark.range(1000).count()
    spark.sql("SELECT 1 AS a").collect()
    si.close()
    spark.stop()
    deleteRecursively(outputDir.toPath)
    Log.info("class-data training run done")
    sys.exit(0)
  }

  def hello(conf: DriverConf, spark: SparkSession): com.fasterxml.jackson.databind.node.ObjectNode = {
    val sc = spark.sparkContext
    val id: Any = scala.util.Try(conf.sessionId.toLong).getOrElse(conf.sessionId)
    Json.obj("type" -> "hello", "session" -> id, "secret" -> conf.secret,
      "appId" -> Option(sc.applicationId), "sparkUiUrl" -> sc.uiWebUrl)
  }

  /** {"type":"shutdown"}: stop everything and exit; a watchdog ends a stop that hangs. */
  def shutdown(code: Int): Unit = {
    Log.info("shutting down")
    val watchdog = new Thread(() => {
      Thread.sleep(30000)
      Log.error("shutdown did not finish in 30 s; halting")
      Runtime.getRuntime.halt(code)
    }, "livy-shutdown-watchdog")
    watchdog.setDaemon(true)
    watchdog.start()
    stopSpark()
    sys.exit(code)
  }

  private def stopSpark(): Unit = {
    if (interpreters != null) interpreters.closeAll()
    if (spark != null) try spark.stop() catch { case e: Exception => Log.warn(s"stopping Spark: $e") }
  }

  /** A fresh dir for REPL classes, under spark.repl.classdir (Livy's key) or java.io.tmpdir. */
  private def replClassDir(conf: SparkConf): File = {
    val root = conf.get("spark.repl.classdir", System.getProperty("java.io.tmpdir"))
    Files.createTempDirectory(Paths.get(root), "livy-repl-").toFile
  }

  /** The user's jars, local paths, for the interpreter's compile class path. */
  private def interpreterClassPath(conf: SparkConf): Seq[String] = {
    // spark-submit sets spark.repl.local.jars to the downloaded copies in client mode. In YARN
    // cluster mode it sets no spark.jars: YARN localizes the jars into the container's working
    // dir (this process's cwd) under the names in spark.yarn.secondary.jars.
    // spark.jars too, for its local entries (its other URIs drop out; duplicates go).
    val jars = Seq("spark.repl.local.jars", "spark.jars", "spark.yarn.secondary.jars").flatMap(conf.getOption)
    jars.flatMap(_.split(",")).map(_.trim).filter(_.nonEmpty).flatMap(DriverConf.localPath)
      .filter(new File(_).exists()).distinct
  }

  private def deleteRecursively(p: Path): Unit = try {
    if (Files.exists(p)) Files.walk(p).sorted(Comparator.reverseOrder[Path]()).forEach(f => Files.deleteIfExists(f))
  } catch { case _: Exception => }
}
