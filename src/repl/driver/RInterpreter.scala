package org.livyserver.repl

import java.io.File
import java.net.{InetAddress, ServerSocket, SocketTimeoutException}
import java.nio.charset.StandardCharsets.UTF_8
import java.nio.file.Files
import java.util.Base64

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode

import org.apache.spark.SparkConf
import org.apache.spark.livyserver.RBackendAccess

/**
 * R statements run in ONE long-lived R child (livy_repl.R) that talks to an RBackend started in
 * this JVM — the same SparkContext and SparkSession as Scala, Python and SQL — through this
 * project's SparkR package (installed under `spark.livy.r.lib`). Control messages
 * ([[ChildInterpreter]]) travel on a loopback TCP connection the child dials with a secret,
 * never on its stdout (native code may write there). Cancel is SIGINT to the child, which R
 * turns into an interrupt; the child then re-opens its backend connection.
 */
final class RInterpreter(conf: SparkConf, script: String, rLib: String) extends ChildInterpreter("r") {
  def kind: String = "sparkr"

  private var backend: RBackendAccess.Started = _
  @volatile private var running = false
  private val connected = new java.util.concurrent.CompletableFuture[Unit]()

  /**
   * Lets the child bind `spark`, `sc` and `sqlContext`: call once the SparkSession exists. The
   * child starts earlier (loading SparkR meanwhile) and waits for this, so it never creates a
   * context of its own.
   */
  def bind(): Unit = connected.thenRun(() => send(Json.obj("op" -> "bind")))

  def launch(): Unit = {
    backend = RBackendAccess.start()
    val control = new ServerSocket(0, 1, InetAddress.getLoopbackAddress)
    val secret = ChildInterpreter.secret()
    val pb = new ProcessBuilder(rCommand, "--vanilla", "--no-echo", "--no-restore", "-f", script)
    val env = pb.environment()
    env.remove(DriverConf.SecretEnv) // user code in the child has no business with it
    env.put("EXISTING_SPARKR_BACKEND_PORT", backend.port.toString)
    env.put("SPARKR_BACKEND_AUTH_SECRET", backend.secret)
    env.put("LIVY_R_CONTROL_PORT", control.getLocalPort.toString)
    env.put("LIVY_R_CONTROL_SECRET", secret)
    env.put("R_LIBS", (rLib +: Option(env.get("R_LIBS")).filter(_.nonEmpty).toSeq).mkString(File.pathSeparator))
    // One backend call may wait as long as a statement runs (SparkR's default gives up at 100 min).
    if (!env.containsKey("SPARKR_BACKEND_CONNECTION_TIMEOUT")) env.put("SPARKR_BACKEND_CONNECTION_TIMEOUT", "31536000")
    child = pb.start()
    child.getOutputStream.close() // R reads nothing from stdin
    watchStderr(child)
    daemon("livy-r-stdout")(copyStdout())
    daemon("livy-r-accept")(accept(control, secret))
  }

  /** The child dials back and proves it is ours; then the control channel is open. */
  private def accept(control: ServerSocket, secret: String): Unit = {
    try {
      control.setSoTimeout(120000)
      val socket = control.accept()
      socket.setTcpNoDelay(true)
      val in = socket.getInputStream
      val first = new StringBuilder
      var b = in.read()
      while (b != -1 && b != '\n' && first.length <= secret.length) { first.append(b.toChar); b = in.read() }
      if (first.toString != secret) {
        socket.close()
        failedToConnect("the R child failed to authenticate its control connection")
      } else {
        attach(in, socket.getOutputStream)
        connected.complete(())
      }
    } catch {
      case e: SocketTimeoutException => failedToConnect(s"the R child never connected: $e")
      case e: java.io.IOException => failedToConnect(s"the R control connection failed: $e")
    } finally control.close()
  }

  /** What R or native code prints outside a statement's capture goes to the session log. */
  private def copyStdout(): Unit = {
    val reader = new java.io.BufferedReader(new java.io.InputStreamReader(child.getInputStream, UTF_8))
    try {
      var line = reader.readLine()
      while (line != null) { Log.raw(line); line = reader.readLine() }
    } catch { case _: java.io.IOException => }
  }

  override def execute(sid: Long, code: String): Output = {
    running = true
    cancelAsked = 0L
    try super.execute(sid, code) finally running = false
  }

  @volatile private var cancelAsked = 0L
  @volatile private var lastSignal = 0L

  /**
   * Called every 100 ms while a statement is being cancelled, after its job group was cancelled.
   * A statement waiting on a Spark job ends through that alone, and an interrupt while R waits
   * for the backend would cost it that connection; so R gets SIGINT only if the statement is
   * still running half a second later (R code busy by itself), then once a second.
   */
  def cancel(sid: Long): Unit = if (running && child != null && child.isAlive) {
    val now = System.currentTimeMillis()
    if (cancelAsked == 0L) cancelAsked = now
    if (now - cancelAsked >= 500 && now - lastSignal >= 1000) {
      lastSignal = now
      new ProcessBuilder("kill", "-INT", child.pid().toString).start().waitFor()
    }
  }

  /** Plots come back as the path of a PNG file the child wrote: sent on as base64, then deleted. */
  override protected def output(node: JsonNode): Output = {
    val file = Option(node).flatMap(n => Option(n.at("/data/image~1png/file"))).filter(_.isTextual)
    file.foreach { f =>
      val path = new File(f.asText()).toPath
      val data = node.get("data").asInstanceOf[ObjectNode]
      try {
        data.put("image/png", Base64.getEncoder.encodeToString(Files.readAllBytes(path)))
      } catch {
        case e: java.io.IOException =>
          Log.warn(s"cannot read the plot $path: $e")
          data.remove("image/png")
      } finally Files.deleteIfExists(path)
    }
    Output.fromJson(node)
  }

  override protected def onKill(): Unit = if (backend != null) try backend.close() catch { case _: Exception => }

  /** As Livy: spark.r.shell.command, else SPARKR_DRIVER_R, else R. */
  private def rCommand: String =
    conf.getOption("spark.r.shell.command").orElse(sys.env.get("SPARKR_DRIVER_R")).getOrElse("R")
}
