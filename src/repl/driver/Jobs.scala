package org.livyserver.repl

import java.io.{File, PrintWriter, StringWriter}
import java.lang.reflect.{InvocationHandler, InvocationTargetException, Method, Proxy}
import java.net.{URI, URL, URLClassLoader}
import java.nio.ByteBuffer
import java.nio.charset.StandardCharsets.UTF_8
import java.nio.file.{Files, Paths}
import java.util.{Base64, NoSuchElementException}
import java.util.concurrent.{ConcurrentHashMap, Executors}
import java.util.concurrent.atomic.AtomicLong

import scala.collection.JavaConverters._

import com.fasterxml.jackson.databind.JsonNode
import org.apache.hadoop.fs.Path
import org.apache.spark.api.java.JavaSparkContext
import org.apache.spark.sql.SparkSession
import org.apache.spark.streaming.Duration
import org.apache.spark.streaming.api.java.JavaStreamingContext

/** The class loader Java jobs are read and run with: the driver's, plus every jar added since. */
final class JobClassLoader(parent: ClassLoader) extends URLClassLoader(Array.empty[URL], parent) {
  def add(jar: File): Unit = addURL(jar.toURI.toURL)
}

/** One job as the driver knows it. */
final class JobRun(val id: Long, val jobType: String, val payload: String) {
  @volatile var state = "QUEUED"
  @volatile var result: String = _
  @volatile var error: String = _
  @volatile var cancelRequested = false
  @volatile var thread: Thread = _
  def group: String = s"livy-job-$id"
  def finished: Boolean = state == "SUCCEEDED" || state == "FAILED" || state == "CANCELLED"
  def toJson: JsonNode = Json.obj("type" -> "job", "id" -> id, "state" -> state, "result" -> Option(result),
    "error" -> Option(error))
}

/**
 * Livy's Job API in the driver. Java jobs (`spark`) are Livy's Kryo bytes, read with Livy's own
 * `Serializer` (in livy-client-http, on the class path through livy.rsc.jars, reached by
 * reflection so the driver builds without it) and run with a `JobContext` proxy; their results
 * go back Kryo-serialized, base64. Python jobs (`pyspark`) are cloudpickled functions run by the
 * Python child, whose base64 pickle of the result is base64-encoded once more, as Livy's Python
 * client reads it. Jobs run concurrently (Livy's RSC runs them on a thread pool), each in a Spark
 * job group of its own that cancel addresses.
 *
 * Jars, files and Python files arrive as bytes (an upload) or a URI; they are kept in this
 * driver's staging dir and added to the context (jars also to the jobs' class loader).
 */
final class Jobs(interpreters: Interpreters, spark: () => SparkSession, parentLoader: ClassLoader,
    userJars: Seq[String]) {
  private var link: ServerLink = _
  private val runs = new ConcurrentHashMap[Long, JobRun]()
  private val finishedOrder = new java.util.concurrent.ConcurrentLinkedQueue[Long]()
  private val shared = new ConcurrentHashMap[String, AnyRef]()
  // The session's jars (livy.rsc.jars among them): spark-submit puts them on no class loader of
  // the driver's in client mode, and YARN only localizes them in cluster mode.
  private val loader = new JobClassLoader(parentLoader)
  userJars.foreach(j => loader.add(new File(j)))
  Log.info(s"jobs load classes from ${loader.getURLs.mkString(", ")}")
  private val adds = new AtomicLong()
  @volatile private var streaming: JavaStreamingContext = _
  private val pool = Executors.newCachedThreadPool { r =>
    val t = new Thread(r, "livy-job")
    t.setDaemon(true)
    t
  }
  lazy val staging: File = {
    val dir = Files.createTempDirectory(Paths.get(System.getProperty("java.io.tmpdir")), "livy-staging-").toFile
    sys.addShutdownHook(deleteTree(dir))
    dir
  }

  def attach(l: ServerLink): Unit = link = l

  /** On every connection, before the history: where each job it holds stands. */
  def resend(): Unit = runs.values().asScala.toSeq.sortBy(_.id).foreach(r => link.send(r.toJson))

  def onMessage(msg: JsonNode): Boolean = Json.text(msg, "type") match {
    case Some("job") =>
      val run = new JobRun(Json.long(msg, "id").getOrElse(-1L), Json.text(msg, "jobType").getOrElse("spark"),
        Json.text(msg, "job").getOrElse(""))
      runs.put(run.id, run)
      report(run)
      pool.submit((() => execute(run)): Runnable)
      true
    case Some("canceljob") =>
      Json.long(msg, "id").flatMap(id => Option(runs.get(id))).foreach(cancel)
      true
    case Some("add") =>
      pool.submit((() => add(msg)): Runnable)
      true
    case _ => false
  }

  private def report(run: JobRun): Unit = link.send(run.toJson)

  private def execute(run: JobRun): Unit = {
    run.thread = Thread.currentThread()
    if (run.cancelRequested) return end(run, "CANCELLED", null, null)
    run.state = "STARTED"
    report(run)
    val outcome = try {
      val result = if (run.jobType == "pyspark") python(run) else jvm(run)
      if (run.cancelRequested) ("CANCELLED", null, null) else ("SUCCEEDED", result, null)
    } catch {
      case _: Throwable if run.cancelRequested => ("CANCELLED", null, null)
      case e: InvocationTargetException => ("FAILED", null, stackTrace(Option(e.getCause).getOrElse(e)))
      case e: Throwable => ("FAILED", null, stackTrace(e))
    } finally {
      Thread.interrupted()
      run.thread = null
    }
    end(run, outcome._1, outcome._2, outcome._3)
  }

  private def end(run: JobRun, state: String, result: String, error: String): Unit = {
    run.result = result
    run.error = error
    run.state = state
    report(run)
    finishedOrder.add(run.id)
    // The server keeps statuses; this side keeps the last few, for a reconnect.
    while (finishedOrder.size() > 100) Option(finishedOrder.poll()).foreach(runs.remove)
  }

  private def cancel(run: JobRun): Unit = {
    run.cancelRequested = true
    if (!run.finished) {
      try spark().sparkContext.cancelJobGroup(run.group) catch { case e: Exception => Log.warn(s"cancel job ${run.id}: $e") }
      if (run.jobType != "pyspark") Option(run.thread).foreach(_.interrupt())
    }
  }

  // ---- Java jobs ----

  private def jvm(run: JobRun): String = {
    val bytes = Base64.getDecoder.decode(run.payload)
    val t = Thread.currentThread()
    val saved = t.getContextClassLoader
    t.setContextClassLoader(loader)
    val sc = spark().sparkContext
    sc.setJobGroup(run.group, s"Livy job ${run.id}", interruptOnCancel = true)
    try {
      val (serializerClass, jobClass, contextClass) = try {
        (Class.forName("org.apache.livy.client.common.Serializer", true, loader),
          Class.forName("org.apache.livy.Job", true, loader),
          Class.forName("org.apache.livy.JobContext", true, loader))
      } catch {
        case e: ClassNotFoundException =>
          throw new IllegalStateException("Java jobs need Livy's livy-api and livy-client-http jars in the " +
            s"session's driver; set livy.rsc.jars on the server to them (hack/setup.sh fetches them): missing ${e.getMessage}")
      }
      // A new Serializer per job: its Kryo takes the context class loader (with every jar so far).
      val serializer = serializerClass.getConstructor(classOf[Array[Class[_]]]).newInstance(Array.empty[Class[_]])
      val job = serializerClass.getMethod("deserialize", classOf[ByteBuffer]).invoke(serializer, ByteBuffer.wrap(bytes))
      val context = Proxy.newProxyInstance(loader, Array(contextClass), new ContextHandler)
      val result = jobClass.getMethod("call", contextClass).invoke(job, context)
      val out = serializerClass.getMethod("serialize", classOf[Object]).invoke(serializer, result).asInstanceOf[ByteBuffer]
      val data = new Array[Byte](out.remaining())
      out.get(data)
      Base64.getEncoder.encodeToString(data)
    } finally {
      sc.clearJobGroup()
      t.setContextClassLoader(saved)
    }
  }

  /** Livy's `JobContext` for Java jobs. */
  private final class ContextHandler extends InvocationHandler {
    override def invoke(proxy: Object, method: Method, args: Array[Object]): Object = {
      def arg(i: Int): Object = args(i)
      method.getName match {
        case "sc" => JavaSparkContext.fromSparkContext(spark().sparkContext)
        case "sqlctx" => spark().sqlContext
        case "sparkSession" => spark()
        case "hivectx" => throw new UnsupportedOperationException(
          "hivectx: HiveContext is gone from Spark 3+; use sparkSession() (Hive support is its catalog)")
        case "streamingctx" =>
          Option(streaming).getOrElse(throw new IllegalStateException("call createStreamingContext first"))
        case "createStreamingContext" => synchronized {
          if (streaming != null) throw new IllegalStateException("the streaming context already exists")
          streaming = new JavaStreamingContext(JavaSparkContext.fromSparkContext(spark().sparkContext),
            new Duration(arg(0).asInstanceOf[java.lang.Long]))
          null
        }
        case "stopStreamingCtx" => synchronized {
          if (streaming == null) throw new IllegalStateException("there is no streaming context to stop")
          streaming.stop(false)
          streaming = null
          null
        }
        case "getSharedObject" =>
          val name = arg(0).asInstanceOf[String]
          Option(shared.get(name)).getOrElse(throw new NoSuchElementException(s"no shared object named $name"))
        case "setSharedObject" => shared.put(arg(0).asInstanceOf[String], arg(1)); null
        case "removeSharedObject" => shared.remove(arg(0).asInstanceOf[String])
        case "getLocalTmpDir" => staging
        case "toString" => "JobContext"
        case "hashCode" => Integer.valueOf(System.identityHashCode(proxy))
        case "equals" => java.lang.Boolean.valueOf(proxy eq arg(0))
        case other => throw new UnsupportedOperationException(s"JobContext.$other")
      }
    }
  }

  // ---- Python jobs ----

  private def python(run: JobRun): String = {
    val child = interpreters.pythonChild().fold(e => throw new IllegalStateException(
      s"the Python interpreter did not start: ${e.getMessage}"), identity)
    val answer = child.request(Json.obj("op" -> "job", "id" -> run.id, "group" -> run.group, "job" -> run.payload))
    Json.text(answer, "error") match {
      case Some(error) => throw new PythonJobError(error)
      // Livy's wire form: the child's base64 pickle, as bytes, base64-encoded once more.
      case None => Base64.getEncoder.encodeToString(Json.text(answer, "result").getOrElse("").getBytes(UTF_8))
    }
  }

  /** A Python job's own traceback, passed on as is. */
  private final class PythonJobError(traceback: String) extends RuntimeException(traceback) {
    override def fillInStackTrace(): Throwable = this
  }

  // ---- jars, files, Python files ----

  private def add(msg: JsonNode): Unit = {
    val req = Json.long(msg, "req").getOrElse(-1L)
    val what = Json.text(msg, "what").getOrElse("")
    val error = try {
      val local = localCopy(msg)
      val sc = spark().sparkContext
      what match {
        case "jar" =>
          sc.addJar(local.getAbsolutePath)
          loader.add(local)
        case "file" => sc.addFile(local.getAbsolutePath)
        case "pyfile" =>
          val child = interpreters.pythonChild().fold(e => throw new IllegalStateException(
            s"the Python interpreter did not start: ${e.getMessage}"), identity)
          val answer = child.request(Json.obj("op" -> "add_pyfile", "path" -> local.getAbsolutePath))
          Json.text(answer, "error").foreach(e => throw new IllegalStateException(e))
        case other => throw new IllegalArgumentException(s"cannot add a $other")
      }
      Log.info(s"added $what ${local.getName}")
      None
    } catch {
      case e: Throwable =>
        Log.warn(s"adding a $what failed: $e")
        Some(Option(e.getMessage).getOrElse(e.toString))
    }
    link.send(Json.obj("type" -> "added", "req" -> req, "error" -> error))
  }

  /** The upload written, or the URI copied, into a directory of its own under the staging dir. */
  private def localCopy(msg: JsonNode): File = {
    val name = Json.text(msg, "name").filter(n => n.nonEmpty && !n.contains('/')).getOrElse("file")
    val dir = new File(staging, adds.incrementAndGet().toString)
    dir.mkdirs()
    val dest = new File(dir, name)
    (Json.text(msg, "data"), Json.text(msg, "uri")) match {
      case (Some(data), _) => Files.write(dest.toPath, Base64.getDecoder.decode(data))
      case (None, Some(uri)) =>
        // A path without a scheme is one on the driver's host (validated by the server).
        val parsed = new URI(uri)
        val path = new Path(if (parsed.getScheme == null) new File(uri).toURI else parsed)
        val fs = path.getFileSystem(spark().sparkContext.hadoopConfiguration)
        fs.copyToLocalFile(false, path, new Path(dest.getAbsolutePath), true)
      case _ => throw new IllegalArgumentException("neither data nor uri")
    }
    dest
  }

  private def stackTrace(t: Throwable): String = {
    val w = new StringWriter()
    t.printStackTrace(new PrintWriter(w))
    w.toString
  }

  private def deleteTree(f: File): Unit = {
    Option(f.listFiles()).foreach(_.foreach(deleteTree))
    f.delete()
  }
}
