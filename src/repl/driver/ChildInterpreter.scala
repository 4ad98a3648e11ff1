package org.livyserver.repl

import java.io.{BufferedReader, InputStream, InputStreamReader, OutputStream}
import java.nio.charset.StandardCharsets.UTF_8
import java.security.SecureRandom
import java.util.concurrent.{CompletableFuture, ConcurrentHashMap, TimeUnit, TimeoutException}
import java.util.concurrent.atomic.AtomicLong

import scala.collection.JavaConverters._

import com.fasterxml.jackson.databind.JsonNode

/**
 * An interpreter that runs statements in ONE long-lived child process (Python, R) speaking JSON
 * lines with this JVM:
 *   JVM -> child: {"op":"execute","id","code","group","next_group"} {"op":"cancel","id"}
 *                 {"op":"complete","req","code","cursor"} {"op":"shutdown"}
 *   child -> JVM: {"op":"ready"} {"op":"init_error","error"} {"op":"result","id","output"}
 *                 {"op":"completion","req","candidates"} {"op":"log","line"}
 * The child's stderr (and its "log" lines) go to the session log, keeping a tail for
 * "Interpreter died".
 *
 * The child's Spark calls run on JVM threads of its own (py4j's pinned thread, the RBackend's
 * connection thread), whose job group only the child can set, at the cost of one round trip. So
 * statements of one child get groups of their own numbering, and the child sets the NEXT group
 * right after answering a statement, off the statement's critical path.
 */
abstract class ChildInterpreter(label: String) extends Interpreter {
  protected var child: Process = _
  private var toChild: OutputStream = _
  private val ready = new CompletableFuture[Unit]()
  private val results = new ConcurrentHashMap[Long, CompletableFuture[Output]]()
  private val completions = new ConcurrentHashMap[Long, CompletableFuture[Seq[String]]]()
  private val replies = new ConcurrentHashMap[Long, CompletableFuture[JsonNode]]()
  private val nextReq = new AtomicLong()
  private val stderrTail = new java.util.ArrayDeque[String]()
  @volatile private var dead = false
  /** Longest line read from the child; a longer one fails the statement waiting on it. */
  @volatile var maxLineChars: Long = Long.MaxValue
  private var runs = 0L // statements run, for the job group names (statement thread only)

  /** Starts the child; does not wait (see [[awaitReady]]). Calls [[attach]] once connected. */
  def launch(): Unit

  /** What to do to a statement the JVM asks to cancel (beyond cancelling its job group). */
  def cancel(sid: Long): Unit

  /** The output as the child sent it, turned into ours (R sends plots as file paths). */
  protected def output(node: JsonNode): Output = Output.fromJson(node)

  /** The control streams of a started child: messages go out on `out`, come back on `in`. */
  protected final def attach(in: InputStream, out: OutputStream): Unit = {
    toChild = out
    daemon(s"livy-$label-messages")(readMessages(in))
  }

  /** Copies the child's stderr to the session log. */
  protected final def watchStderr(p: Process): Unit = daemon(s"livy-$label-stderr")(copyStderr(p.getErrorStream))

  /** The child went away before it connected: fail whoever waits. */
  protected final def failedToConnect(why: String): Unit = gone(why)

  private def group(n: Long) = s"livy-$label-$n"

  override def jobGroup(sid: Long): String = group(runs)

  def awaitReady(timeoutMs: Long): Unit = {
    try ready.get(timeoutMs, TimeUnit.MILLISECONDS)
    catch {
      case e: java.util.concurrent.ExecutionException => throw e.getCause
      case _: TimeoutException => throw new IllegalStateException(s"$label did not start within $timeoutMs ms")
    }
  }

  def isDead: Boolean = dead

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

  /**
   * Sends `msg` with a fresh `req` and waits for the child's `{"op":"reply","req"}` (Job API:
   * a Python job, a Python file to add). The child takes them in order with statements.
   */
  def request(msg: com.fasterxml.jackson.databind.node.ObjectNode): JsonNode = {
    val req = nextReq.incrementAndGet()
    val promise = new CompletableFuture[JsonNode]()
    replies.put(req, promise)
    try {
      if (dead) throw new IllegalStateException(s"$label died:\n${tail()}")
      msg.put("req", req)
      send(msg)
      promise.get()
    } catch {
      case e: java.util.concurrent.ExecutionException => throw e.getCause
    } finally replies.remove(req)
  }

  /** Ends the child for good (shutdown, or a statement that ignored cancel for too long). */
  def kill(): Unit = {
    if (child != null && child.isAlive) {
      try send(Json.obj("op" -> "shutdown")) catch { case _: Exception => }
      if (!child.waitFor(2, TimeUnit.SECONDS)) child.destroyForcibly()
    }
    onKill()
  }

  /** Releases what the subclass holds besides the process (a gateway, a backend). */
  protected def onKill(): Unit = ()

  def close(): Unit = kill()

  protected final def send(msg: JsonNode): Unit = {
    val out = toChild
    if (out == null) throw new IllegalStateException(s"the $label child is not connected")
    out.synchronized {
      out.write((Json.write(msg) + "\n").getBytes(UTF_8))
      out.flush()
    }
  }

  private def readMessages(in: InputStream): Unit = {
    val reader = new BufferedReader(new InputStreamReader(in, UTF_8), 1 << 16)
    try {
      var line = ChildInterpreter.readBounded(reader, maxLineChars)
      while (line.isDefined) {
        line.get match {
          case Right(text) =>
            try handle(Json.parse(text))
            catch { case e: Exception => Log.warn(s"bad line from the $label child: ${text.take(200)} ($e)") }
          case Left(length) => tooLong(length)
        }
        line = ChildInterpreter.readBounded(reader, maxLineChars)
      }
    } catch {
      case e: java.io.IOException => Log.warn(s"$label child channel: $e")
    }
    val code = try { if (child != null) child.waitFor() else -1 } catch { case _: InterruptedException => -1 }
    gone(s"$label exited with code $code")
  }

  /**
   * The child sent a line longer than [[maxLineChars]] (its rest was skipped, never held): only
   * a statement's result can be that long, so the statement waiting fails; the child goes on.
   */
  private def tooLong(length: Long): Unit = {
    Log.warn(s"$label child sent a line of $length characters (at most $maxLineChars); skipped")
    val error = ErrorOutput("OutputTooLarge",
      s"the statement's output is too large: $length characters on one line of the $label interpreter, " +
        s"more than $maxLineChars (twice livy.server.statement.max-output-bytes); print less, " +
        "or write large results to storage. The session goes on.", Nil)
    results.values.asScala.foreach(_.complete(error))
  }

  /** The child is gone: fail whoever waits on it. */
  private def gone(why: String): Unit = {
    dead = true
    Log.warn(why)
    ready.completeExceptionally(new IllegalStateException(s"$why: ${tail()}"))
    results.values.asScala.foreach(_.complete(died()))
    completions.values.asScala.foreach(_.complete(Nil))
    replies.values.asScala.foreach(_.completeExceptionally(new IllegalStateException(s"$why: ${tail()}")))
  }

  private def handle(msg: JsonNode): Unit = Json.text(msg, "op") match {
    case Some("ready") => ready.complete(())
    case Some("init_error") =>
      Json.text(msg, "error").foreach(e => Log.error(s"$label failed to start:\n$e"))
      ready.completeExceptionally(new IllegalStateException(Json.text(msg, "error").getOrElse(s"$label init failed")))
    case Some("result") =>
      val sid = Json.long(msg, "id").getOrElse(-1L)
      Option(results.get(sid)).foreach(_.complete(output(msg.get("output"))))
    case Some("completion") =>
      val req = Json.long(msg, "req").getOrElse(-1L)
      val cands = Option(msg.get("candidates")).map(_.elements().asScala.map(_.asText()).toSeq).getOrElse(Nil)
      Option(completions.get(req)).foreach(_.complete(cands))
    case Some("reply") =>
      Option(replies.get(Json.long(msg, "req").getOrElse(-1L))).foreach(_.complete(msg))
    case Some("log") => Json.text(msg, "line").foreach(remember)
    case other => Log.warn(s"unknown message from the $label child: $other")
  }

  private def died(): Output =
    ErrorOutput("Error", s"Interpreter died:\n${tail()}", Nil)

  private def copyStderr(in: InputStream): Unit = {
    val reader = new BufferedReader(new InputStreamReader(in, UTF_8))
    try {
      var line = reader.readLine()
      while (line != null) {
        remember(line)
        line = reader.readLine()
      }
    } catch { case _: java.io.IOException => }
  }

  /** A line for the session log, also kept for "Interpreter died". */
  private def remember(line: String): Unit = {
    Log.raw(line)
    stderrTail.synchronized {
      stderrTail.addLast(line)
      if (stderrTail.size > 50) stderrTail.removeFirst()
    }
  }

  private def tail(): String = stderrTail.synchronized(stderrTail.asScala.mkString("\n"))

  protected final def daemon(name: String)(body: => Unit): Unit = {
    val t = new Thread(() => body, name)
    t.setDaemon(true)
    t.start()
  }
}

object ChildInterpreter {
  /** The longest line from a child for outputs of at most `maxOutputBytes`: JSON escaping room. */
  def lineLimit(maxOutputBytes: Long): Long = 2 * maxOutputBytes + (1L << 20)

  /**
   * The next line (without its end) of at most `max` characters: `Right(line)`, or `Left(length)`
   * for a longer one, whose characters past `max` are read and dropped. `None` at the end.
   */
  def readBounded(reader: java.io.Reader, max: Long): Option[Either[Long, String]] = {
    val sb = new java.lang.StringBuilder
    val buf = new Array[Char](1 << 14)
    var length = 0L
    var ended = false
    var any = false
    // Mark/reset keeps what follows the line end for the next call.
    while (!ended) {
      reader.mark(buf.length)
      val n = reader.read(buf, 0, buf.length)
      if (n == -1) {
        ended = true
      } else {
        any = true
        var i = 0
        while (i < n && buf(i) != '\n') i += 1
        if (length < max) sb.append(buf, 0, math.min(i.toLong, max - length).toInt)
        length += i
        if (i < n) {
          reader.reset()
          reader.skip(i + 1L)
          ended = true
        }
      }
    }
    if (!any) None
    else if (length > max) Some(Left(length))
    else {
      val end = sb.length
      Some(Right(if (end > 0 && sb.charAt(end - 1) == '\r') sb.substring(0, end - 1) else sb.toString))
    }
  }

  /** A random hex secret for a child's control or gateway connection. */
  def secret(): String = {
    val bytes = new Array[Byte](32)
    new SecureRandom().nextBytes(bytes)
    bytes.map("%02x".format(_)).mkString
  }
}
