package org.livyserver.repl

import java.io.File
import java.net.InetAddress
import java.util.concurrent.CompletableFuture

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
 * SparkContext through a py4j ClientServer (pinned threads, as PySpark itself uses). The control
 * messages ([[ChildInterpreter]]) travel on the child's stdin and (its original) stdout.
 */
final class PythonInterpreter(conf: SparkConf, script: String, session: CompletableFuture[SparkSession])
  extends ChildInterpreter("python") {
  def kind: String = "pyspark"

  private val secret = ChildInterpreter.secret()
  private val gateway = new py4j.ClientServer.ClientServerBuilder(new PythonEntryPoint(session))
    .authToken(secret).javaPort(0).javaAddress(InetAddress.getLoopbackAddress).build()

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
    watchStderr(child)
    attach(child.getInputStream, child.getOutputStream)
  }

  /** The child interrupts its own Python code on this message (SIGINT to itself). */
  def cancel(sid: Long): Unit = if (!isDead) send(Json.obj("op" -> "cancel", "id" -> sid))

  override protected def onKill(): Unit = try gateway.shutdown() catch { case _: Exception => }

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

}
