package org.livyserver.repl

import java.io.File
import java.util.concurrent.CompletableFuture

import org.apache.spark.{SparkConf, SparkEnv}
import org.apache.spark.sql.SparkSession

/**
 * The interpreters of one session, started on first use (on the statement thread) unless main
 * started them eagerly. A start failure is remembered and answered with Livy's
 * "InterpreterError / Fail to start interpreter"; a Python child that died is replaced on the
 * next Python statement.
 */
final class Interpreters(
    conf: DriverConf,
    sparkConf: SparkConf,
    outputDir: File,
    userJars: Seq[String],
    parentLoader: ClassLoader,
    replAware: Option[ReplAwareClassLoader],
    session: CompletableFuture[SparkSession]) {

  @volatile private var scalaInterp: Either[Throwable, ScalaInterpreter] = _
  @volatile private var pythonInterp: Either[Throwable, PythonInterpreter] = _
  @volatile private var rInterp: Either[Throwable, RInterpreter] = _
  @volatile private var sqlInterp: SqlInterpreter = _

  private def spark: SparkSession = session.get()

  /** Canonical statement kind, or None if the driver does not know it. */
  def canonical(kind: String): Option[String] = kind.toLowerCase(java.util.Locale.ROOT) match {
    case "spark" | "scala" => Some("spark")
    case "pyspark" | "python" => Some("pyspark")
    case "sql" => Some("sql")
    case "sparkr" | "r" => Some("sparkr")
    case _ => None
  }

  /** The interpreter for a canonical kind, starting it if needed (statement thread only). */
  def forKind(kind: String): Either[ErrorOutput, Interpreter] = kind match {
    case "spark" => scala().left.map(Output.startFailure("Scala", _))
    case "pyspark" => python().left.map(Output.startFailure("Python", _))
    case "sql" => Right(sql())
    case "sparkr" => r().left.map(Output.startFailure("R", _))
    case other => Left(ErrorOutput("InterpreterError", s"Unknown statement kind: $other", Nil))
  }

  /** Already running interpreters only (cancel and completion never start one). */
  def started(kind: String): Option[Interpreter] = kind match {
    case "spark" => Option(scalaInterp).flatMap(_.toOption)
    case "pyspark" => Option(pythonInterp).flatMap(_.toOption).filterNot(_.isDead)
    case "sparkr" => Option(rInterp).flatMap(_.toOption).filterNot(_.isDead)
    case "sql" => Option(sqlInterp)
    case _ => None
  }

  /** For spark/shared sessions main warms Scala before the SparkContext, as REPL-NOTES orders. */
  def setScala(result: Either[Throwable, ScalaInterpreter]): Unit = scalaInterp = result

  /** For pyspark sessions main launches Python before the SparkContext, to overlap the imports. */
  def setPython(result: Either[Throwable, PythonInterpreter]): Unit = pythonInterp = result

  /** For sparkr sessions main starts R eagerly, so the session is idle only once R is. */
  def setR(result: Either[Throwable, RInterpreter]): Unit = rInterp = result

  private def scala(): Either[Throwable, ScalaInterpreter] = {
    if (scalaInterp == null) scalaInterp = startScalaLate()
    scalaInterp
  }

  /**
   * Scala after the SparkContext (pyspark/sql sessions): Spark's threads already exist, so tell
   * its serializers about the REPL's class loader, and let the class loader those threads
   * inherited answer for REPL classes.
   */
  private def startScalaLate(): Either[Throwable, ScalaInterpreter] = {
    val t0 = System.nanoTime()
    try {
      val si = new ScalaInterpreter(outputDir, userJars, parentLoader)
      val loader = si.start()
      replAware.foreach(_.repl = loader)
      val env = SparkEnv.get
      env.serializer.setDefaultClassLoader(loader)
      env.closureSerializer.setDefaultClassLoader(loader)
      Thread.currentThread().setContextClassLoader(loader)
      si.bindSpark(spark)
      Log.info(f"scala interpreter ready in ${(System.nanoTime() - t0) / 1e9}%.2f s")
      Right(si)
    } catch {
      case e: Exception =>
        Log.error("scala interpreter failed to start", e)
        Left(e)
    }
  }

  /** The Python child, started if it is not (Job API: Python jobs and files, from any thread). */
  def pythonChild(): Either[Throwable, PythonInterpreter] = python()

  private def python(): Either[Throwable, PythonInterpreter] = synchronized {
    pythonInterp = replaceIfDead(pythonInterp, "python")
    if (pythonInterp == null) pythonInterp = startChild("python", launchPython())
    pythonInterp
  }

  private def r(): Either[Throwable, RInterpreter] = {
    rInterp = replaceIfDead(rInterp, "R")
    if (rInterp == null) rInterp = startChild("R", { val r = launchR(); spark; r.bind(); r })
    rInterp
  }

  /** A child that died is closed and forgotten: the next statement of its kind starts a new one. */
  private def replaceIfDead[I <: ChildInterpreter](current: Either[Throwable, I], label: String): Either[Throwable, I] = {
    if (current != null && current.exists(_.isDead)) {
      Log.warn(s"$label child is gone; starting a new one")
      current.foreach(_.close())
      null
    } else current
  }

  /** Waits until a launched child is ready (it wrapped the JVM's SparkContext). */
  def startChild[I <: ChildInterpreter](label: String, launch: => I): Either[Throwable, I] = {
    val t0 = System.nanoTime()
    try {
      val child = launch
      try child.awaitReady(120000) catch { case e: Exception => child.kill(); throw e }
      Log.info(f"$label interpreter ready in ${(System.nanoTime() - t0) / 1e9}%.2f s")
      Right(child)
    } catch {
      case e: Exception =>
        Log.error(s"$label interpreter failed to start", e)
        Left(e)
    }
  }

  def launchPython(): PythonInterpreter = {
    if (conf.pythonScript.isEmpty) throw new IllegalStateException(s"${DriverConf.PythonScript} is not set")
    val py = new PythonInterpreter(sparkConf, conf.pythonScript, session)
    py.maxLineChars = ChildInterpreter.lineLimit(conf.maxOutputBytes)
    py.launch()
    py
  }

  /** Starts R and its backend; R binds to the session only after [[RInterpreter.bind]]. */
  def launchR(): RInterpreter = {
    if (conf.rScript.isEmpty || conf.rLib.isEmpty) {
      throw new IllegalStateException(s"${DriverConf.RScript} and ${DriverConf.RLib} are not set: the server found no R")
    }
    val r = new RInterpreter(sparkConf, conf.rScript, conf.rLib)
    r.maxLineChars = ChildInterpreter.lineLimit(conf.maxOutputBytes)
    r.launch()
    r
  }

  private def sql(): SqlInterpreter = {
    if (sqlInterp == null) sqlInterp = new SqlInterpreter(spark, conf.sqlNumRows)
    sqlInterp
  }

  def closeAll(): Unit = {
    Option(pythonInterp).flatMap(_.toOption).foreach(p => try p.close() catch { case _: Exception => })
    Option(rInterp).flatMap(_.toOption).foreach(r => try r.close() catch { case _: Exception => })
    Option(scalaInterp).flatMap(_.toOption).foreach(s => try s.close() catch { case _: Exception => })
  }
}
