package org.livyserver.repl

import java.io.{ByteArrayOutputStream, File, OutputStreamWriter, PrintStream, PrintWriter}
import java.nio.charset.StandardCharsets.UTF_8
import java.util.concurrent.TimeUnit
import java.util.concurrent.locks.ReentrantLock

import scala.tools.nsc.Settings
import scala.tools.nsc.interpreter.{IMain, Results}

import org.apache.spark.sql.SparkSession

/**
 * A class loader that Spark's threads can inherit before the interpreter exists: it answers for
 * REPL classes once `repl` is set. Used when the SparkContext starts before the Scala compiler
 * (pyspark/sql sessions), so task results holding REPL classes still deserialize.
 */
final class ReplAwareClassLoader(parent: ClassLoader) extends ClassLoader(parent) {
  @volatile var repl: ClassLoader = _

  override def findClass(name: String): Class[_] = {
    val r = repl
    if (r == null) throw new ClassNotFoundException(name) else r.loadClass(name)
  }
}

/**
 * The Scala interpreter: one IMain, class-based, writing its classes to `outputDir` (the same
 * dir as spark.repl.class.outputDir, from which the driver serves them to executors).
 * Statements run whole, like spark-shell's :paste, so definitions and their uses can share one
 * statement and results print after the statement's own output, as Livy shows them.
 */
final class ScalaInterpreter(outputDir: File, userJars: Seq[String], parent: ClassLoader) extends Interpreter {
  def kind: String = "spark"

  private val buffer = new ByteArrayOutputStream()
  private val capture = new PrintStream(buffer, true, UTF_8.name)
  private val reporterOut = new PrintWriter(new OutputStreamWriter(capture, UTF_8), true)
  // IMain is not thread-safe: statements and completions take turns.
  private val lock = new ReentrantLock()
  private var intp: IMain = _

  /** Steps 1-2 of REPL-NOTES: settings, then the compiler. Returns the class loader to install. */
  def start(): ClassLoader = {
    val settings = new Settings()
    val cp = userJars.mkString(File.pathSeparator)
    val args = List("-Yrepl-class-based", "-Yrepl-outdir", outputDir.getAbsolutePath, "-nowarn") ++
      (if (cp.nonEmpty) List("-classpath", cp) else Nil)
    val (ok, rest) = settings.processArguments(args, processAll = true)
    if (!ok || rest.nonEmpty) throw new IllegalArgumentException(s"bad interpreter settings: $rest")
    settings.usejavacp.value = true
    intp = ReplCompat.createInterpreter(settings, parent, reporterOut)
    intp.classLoader
  }

  def classLoader: ClassLoader = intp.classLoader

  /** Step 5 of REPL-NOTES: bind `spark` and `sc`, run spark-shell's imports (in its order). */
  def bindSpark(spark: SparkSession): Unit = {
    // The runtime class (classic.SparkSession on Spark 4) gives users the same type as spark-shell.
    // On Spark 4 it is also named with the API class it extends: the same type for user code
    // (classic <: sql.SparkSession), and the echo of `spark` then names
    // org.apache.spark.sql.SparkSession, which Zeppelin looks for to detect Spark 2+.
    val api = "org.apache.spark.sql.SparkSession"
    val runtime = spark.getClass.getCanonicalName
    val sessionType = if (runtime == api) api else s"$runtime with $api"
    var bound: Results.Result = Results.Error
    intp.beQuietDuring { bound = intp.bind("spark", sessionType, spark, List("@transient")) }
    if (bound != Results.Success) throw new IllegalStateException(s"cannot bind spark: ${drain()}")
    quietly(Seq(
      "@transient val sc = spark.sparkContext",
      "import org.apache.spark.SparkContext._",
      "import spark.implicits._",
      "import spark.sql",
      "import org.apache.spark.sql.functions._"))
  }

  private def quietly(lines: Seq[String]): Unit = {
    val failed = Seq.newBuilder[String]
    intp.beQuietDuring {
      lines.foreach(line => if (intp.interpret(line) != Results.Success) failed += line)
    }
    val text = drain()
    val bad = failed.result()
    if (bad.nonEmpty) throw new IllegalStateException(s"interpreter setup failed at ${bad.mkString(", ")}: $text")
  }

  def execute(sid: Long, code: String): Output = {
    lock.lockInterruptibly()
    try ScalaMagics.run(code, interpretChunk, name => intp.valueOfTerm(name))
    finally lock.unlock()
  }

  /** Runs a piece of Scala as one request per group (see [[groups]]), text concatenated. */
  private def interpretChunk(code: String): Output = {
    if (code.trim.isEmpty) return Output.text("")
    val text = new StringBuilder
    for (group <- groups(code)) {
      interpretGroup(group) match {
        case OkOutput(data) => text.append(data.get(Output.TextPlain).asText())
        case error => return error
      }
    }
    Output.text(text.toString)
  }

  /**
   * Splits code into requests: runs of class/object/trait/type definitions, and runs of other
   * statements. A case class used by an encoder (`Seq(P(1)).toDS()`) in the request that
   * defines it fails at run time (Spark cannot reach the outer REPL object while that object
   * is still being constructed), so definitions must come in an earlier request, as they do
   * line by line in spark-shell or Livy. Contiguous definitions stay together (companions,
   * sealed hierarchies), other statements stay together (results print after the statement's
   * own output, as in Livy's seed examples). Anything unparsable runs whole, for its error.
   */
  private def groups(code: String): Seq[String] = ReplCompat.topLevel(intp, code) match {
    case Some(statements) if statements.size > 1 =>
      val out = Seq.newBuilder[String]
      val current = new StringBuilder
      var currentIsDef: Option[Boolean] = None
      var from = 0
      statements.zipWithIndex.foreach { case ((end, isDef), i) =>
        // Cut after each statement: comments and annotations before one stay with it.
        val to = if (i == statements.size - 1) code.length else end
        if (currentIsDef.exists(_ != isDef)) { out += current.toString; current.clear() }
        currentIsDef = Some(isDef)
        current.append(code.substring(from, to))
        from = to
      }
      out += current.toString
      out.result().map(piece => piece.replaceFirst("^(\\s*;)+", ""))
    case _ => Seq(code)
  }

  private def interpretGroup(code: String): Output = {
    interpretCaptured(code) match {
      case (Results.Success, text) => Output.text(text)
      case (Results.Incomplete, text) =>
        ErrorOutput("Error", "incomplete statement", lines(text))
      case (Results.Error, text) if text.trim.isEmpty =>
        // Only comments: the parser finds no statement. Wrapped in a block it is a no-op.
        interpretCaptured("{\n" + code + "\n}") match {
          case (Results.Success, t) => Output.text(t)
          case _ => ErrorOutput("Error", "incomplete statement", Nil)
        }
      case (_, text) => compileOrRuntimeError(text)
    }
  }

  /**
   * Runs `code` with Console.out/err, System.out/err and the reporter all going to one buffer,
   * so what the statement prints keeps its order. Spark's and the JVM's log lines are not
   * affected: log4j's console appender and our Log keep the stderr they started with.
   */
  private def interpretCaptured(code: String): (Results.Result, String) = {
    drain()
    val (oldOut, oldErr) = (System.out, System.err)
    // Safe: statements are serial, and only the statement thread swaps them.
    System.setOut(capture)
    System.setErr(capture)
    val result = try {
      Console.withOut(capture) { Console.withErr(capture) { intp.interpret(code) } }
    } finally {
      System.setOut(oldOut)
      System.setErr(oldErr)
    }
    (result, drain())
  }

  private def drain(): String = {
    reporterOut.flush()
    capture.flush()
    val s = buffer.toString(UTF_8.name)
    buffer.reset()
    s
  }

  /**
   * Livy's Scala errors have ename "Error". The evalue is the compiler's first "error:" message,
   * or for a runtime exception its first line ("java.lang.ArithmeticException: / by zero");
   * the traceback is the whole interpreter output, line by line.
   */
  private def compileOrRuntimeError(text: String): ErrorOutput = {
    val all = lines(text)
    val trimmed = all.map(_.trim).filter(_.nonEmpty)
    val evalue = trimmed.find(_.contains("error:")).map(l => l.substring(l.indexOf("error:") + 6).trim)
      .orElse(trimmed.headOption).getOrElse("unknown error")
    ErrorOutput("Error", evalue, all)
  }

  private def lines(text: String): Seq[String] = text.split("(?<=\n)").toSeq.filter(_.nonEmpty)

  /** Candidates from the presentation compiler; nothing if a statement holds the interpreter. */
  def complete(code: String, cursor: Int): Seq[String] = {
    if (intp == null || !lock.tryLock(200, TimeUnit.MILLISECONDS)) return Nil
    try {
      ReplCompat.complete(intp, code, cursor).filter(_.nonEmpty).distinct
    } catch {
      case e: Exception =>
        Log.warn(s"scala completion failed: $e")
        Nil
    } finally lock.unlock()
  }

  def cancel(sid: Long): Unit = ()
  def interruptible: Boolean = true

  def close(): Unit = if (intp != null) intp.close()
}

/** What kind of top-level statement a parsed tree is (the same on Scala 2.12 and 2.13). */
private[repl] object TreeKinds {
  def isDefinition(t: Any): Boolean = t match {
    case _: scala.reflect.internal.Trees#ClassDef | _: scala.reflect.internal.Trees#ModuleDef |
         _: scala.reflect.internal.Trees#TypeDef => true
    case _ => false
  }
}
