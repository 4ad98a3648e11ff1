package org.livyserver.repl

import java.io.{BufferedReader, File, InputStream, InputStreamReader, OutputStream}
import java.net.InetAddress
import java.nio.charset.StandardCharsets.UTF_8
import java.security.SecureRandom
import java.util.concurrent.{CompletableFuture, ConcurrentHashMap, TimeUnit, TimeoutException}
import java.util.concurrent.atomic.AtomicLong

import scala.collection.JavaConverters._

import com.fasterxml.jackson.databind.JsonNode

import org.apache.spark.SparkConf
import org.apache.spark.api.java.JavaSparkContext
import org.apache.spark.sql.SparkSession

/**
 * What the Python child reaches over py4j. Both calls block until the JVM's SparkSession
 * exists, so the child can start (and import pyspark) while the SparkContext is being built.
 */
final class PythonEntryPoint(session: CompletableFuture[SparkSession]) {
  def sparkSession(): SparkSession = session.get()
  def javaSparkContext(): JavaSparkContext = JavaSparkContext.fromSparkContext(sparkSession().sparkContext)
}

/**
 * Python statements run in ONE long-lived child process (livy_repl.py) that wraps this JVM's
 * SparkContext through a py4j ClientServer (pinned threads, as PySpark itself uses).
 * Control messages are JSON lines on the child's stdin/stdout:
 *   JVM -> child: {"op":"execute","id","code","group","next_group"} {"op":"cancel","id"} {"op":"complete","req","code","cursor"} {"op":"shutdown"}
 *   child -> JVM: {"op":"ready"} {"op":"init_error","error"} {"op":"result","id","output"} {"op":"completion","req","candidates"}
 * The child's stderr is copied to ours (the session log), keeping a tail for "Interpreter died".
 */
final class PythonInterpreter(conf: SparkConf, script: String, session: CompletableFuture[SparkSession])
  extends Interpreter {
  def kind: String = "pyspark"

  private val secret = {
    val bytes = new Array[Byte](32)
    new SecureRandom().nextBytes(bytes)
    bytes.map("%02x".format(_)).mkString
  }
  private val gateway = new py4j.ClientServer.ClientServerBuilder(new PythonEntryPoint(session))
    .authToken(secret).javaPort(0).javaAddress(InetAddress.getLoopbackAddress).build()

  private var child: Process = _
  private var toChild: OutputStream = _
  private val ready = new CompletableFuture[Unit]()
  private val results = new ConcurrentHashMap[Long, CompletableFuture[Output]]()
  private val completions = new ConcurrentHashMap[Long, CompletableFuture[Seq[String]]]()
  private val nextReq = new AtomicLong()
  private val stderrTail = new java.util.ArrayDeque[String]()
  @volatile private var dead = false

  /** Starts the gateway and the child; does not wait (see [[awaitReady]]). */
  def launch(): Unit = {
    gateway.startServer()
    val port = gateway.getJavaServer.getListeningPort
    val pb = new ProcessBuilder(pythonExecutable, script)
    val env = pb.environment()
    env.remove("LIVY_SESSION_SECRET") // user code in the child has no business with it
    env.put("PYSPARK_GATEWAY_PORT", port.toString)
    env.put("PYSPARK_GATEWAY_SECRET", secret)
    env.put("PYSPARK_PIN_THREAD", "true") // the child speaks ClientServer, like our gateway
    env.put("PYTHONUNBUFFERED", "1")
    env.put("LIVY_SPARK_VERSION", org.apache.spark.SPARK_VERSION)
    env.put("LIVY_PYSPARK_ZIPS", pysparkZips.mkString(File.pathSeparator))
    if (!env.containsKey("MPLBACKEND")) env.put("MPLBACKEND", "Agg") // %matplot renders headless
    val pythonPath = localPyFiles ++ Option(env.get("PYTHONPATH")).filter(_.nonEmpty).toSeq
    if (pythonPath.nonEmpty) env.put("PYTHONPATH", pythonPath.mkString(File.pathSeparator))
    child = pb.start()
    toChild = child.getOutputStream
    daemon("livy-python-stdout")(readResults(child.getInputStream))
    daemon("livy-python-stderr")(copyStderr(child.getErrorStream))
  }

  def awaitReady(timeoutMs: Long): Unit = {
    try ready.get(timeoutMs, TimeUnit.MILLISECONDS)
    catch {
      case e: java.util.concurrent.ExecutionException => throw e.getCause
      case _: TimeoutException => throw new IllegalStateException(s"python did not start within $timeoutMs ms")
    }
  }

  def isDead: Boolean = dead

  /** Python statements run in groups of their own numbering, so the child can set the next one ahead. */
  private var runs = 0L
  private def group(n: Long) = s"livy-python-$n"

  /**
   * The child's jobs run on its own (py4j-pinned) JVM thread, whose job group only the child can
   * set, at the cost of a py4j round trip. So the child sets the group of the NEXT Python
   * statement right after answering this one, off the statement's critical path.
   */
  override def jobGroup(sid: Long): String = group(runs)

  def execute(sid: Long, code: String): Output = {
    val promise = new CompletableFuture[Output]()
    results.put(sid, promise)
    try {
      if (dead) return died()
      send(Json.obj("op" -> "execute", "id" -> sid, "code" -> code,
        "group" -> group(runs), "next_group" -> group(runs + 1)))
      promise.get()
    } finally {
      results.remove(sid)
      runs += 1
    }
  }

  def cancel(sid: Long): Unit = if (!dead) send(Json.obj("op" -> "cancel", "id" -> sid))

  /** The statement thread only waits on the child: interrupting it would desynchronise them. */
  def interruptible: Boolean = false

  def complete(code: String, cursor: Int): Seq[String] = {
    if (dead) return Nil
    val req = nextReq.incrementAndGet()
    val promise = new CompletableFuture[Seq[String]]()
    completions.put(req, promise)
    try {
      send(Json.obj("op" -> "complete", "req" -> req, "code" -> code, "cursor" -> cursor))
      promise.get(5, TimeUnit.SECONDS)
    } catch {
      case _: TimeoutException => Nil
    } finally completions.remove(req)
  }

  /** Ends the child for good (shutdown, or a statement that ignored cancel for too long). */
  def kill(): Unit = {
    if (child != null && child.isAlive) {
      try send(Json.obj("op" -> "shutdown")) catch { case _: Exception => }
      if (!child.waitFor(2, TimeUnit.SECONDS)) child.destroyForcibly()
    }
    try gateway.shutdown() catch { case _: Exception => }
  }

  def close(): Unit = kill()

  private def send(msg: JsonNode): Unit = toChild.synchronized {
    toChild.write((Json.write(msg) + "\n").getBytes(UTF_8))
    toChild.flush()
  }

  private def readResults(in: InputStream): Unit = {
    val reader = new BufferedReader(new InputStreamReader(in, UTF_8))
    try {
      var line = reader.readLine()
      while (line != null) {
        try handle(Json.parse(line))
        catch { case e: Exception => Log.warn(s"bad line from python child: ${line.take(200)} ($e)") }
        line = reader.readLine()
      }
    } catch {
      case e: java.io.IOException => Log.warn(s"python child stdout: $e")
    }
    // EOF: the child is gone. Fail whoever waits on it.
    dead = true
    val code = try child.waitFor() catch { case _: InterruptedException => -1 }
    Log.warn(s"python child exited with code $code")
    ready.completeExceptionally(new IllegalStateException(s"python exited with code $code: ${tail()}"))
    results.values.asScala.foreach(_.complete(died()))
    completions.values.asScala.foreach(_.complete(Nil))
  }

  private def handle(msg: JsonNode): Unit = Json.text(msg, "op") match {
    case Some("ready") => ready.complete(())
    case Some("init_error") =>
      Json.text(msg, "error").foreach(e => Log.error(s"python failed to start:\n$e"))
      ready.completeExceptionally(new IllegalStateException(Json.text(msg, "error").getOrElse("python init failed")))
    case Some("result") =>
      val sid = Json.long(msg, "id").getOrElse(-1L)
      Option(results.get(sid)).foreach(_.complete(Output.fromJson(msg.get("output"))))
    case Some("completion") =>
      val req = Json.long(msg, "req").getOrElse(-1L)
      val cands = Option(msg.get("candidates")).map(_.elements().asScala.map(_.asText()).toSeq).getOrElse(Nil)
      Option(completions.get(req)).foreach(_.complete(cands))
    case other => Log.warn(s"unknown message from python child: $other")
  }

  private def died(): Output =
    ErrorOutput("Error", s"Interpreter died:\n${tail()}", Nil)

  private def copyStderr(in: InputStream): Unit = {
    val reader = new BufferedReader(new InputStreamReader(in, UTF_8))
    try {
      var line = reader.readLine()
      while (line != null) {
        Log.raw(line)
        stderrTail.synchronized {
          stderrTail.addLast(line)
          if (stderrTail.size > 50) stderrTail.removeFirst()
        }
        line = reader.readLine()
      }
    } catch { case _: java.io.IOException => }
  }

  private def tail(): String = stderrTail.synchronized(stderrTail.asScala.mkString("\n"))

  /** The same choice as Spark's PythonRunner. */
  private def pythonExecutable: String =
    conf.getOption("spark.pyspark.driver.python")
      .orElse(conf.getOption("spark.pyspark.python"))
      .orElse(sys.env.get("PYSPARK_DRIVER_PYTHON"))
      .orElse(sys.env.get("PYSPARK_PYTHON"))
      .getOrElse("python3")

  /** pyspark.zip and py4j from $SPARK_HOME, for a Python that has no matching pyspark installed. */
  private def pysparkZips: Seq[String] = {
    val home = sys.env.get("SPARK_HOME").orElse(conf.getOption("spark.home"))
    home.toSeq.flatMap { h =>
      val lib = new File(h, "python/lib")
      Option(lib.listFiles()).toSeq.flatten
        .filter(f => f.getName == "pyspark.zip" || (f.getName.startsWith("py4j-") && f.getName.endsWith(".zip")))
        .map(_.getAbsolutePath).sorted
    }
  }

  /** --py-files that are local in client mode, as PythonRunner puts them on PYTHONPATH. */
  private def localPyFiles: Seq[String] =
    conf.getOption("spark.submit.pyFiles").toSeq.flatMap(_.split(",")).map(_.trim).filter(_.nonEmpty)
      .flatMap(DriverConf.localPath)

  private def daemon(name: String)(body: => Unit): Unit = {
    val t = new Thread(() => body, name)
    t.setDaemon(true)
    t.start()
  }
}
