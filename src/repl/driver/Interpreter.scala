package org.livyserver.repl

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode

/** What a statement produced, before it gets its Livy `execution_count`. */
sealed trait Output {
  def toJson(executionCount: Long): ObjectNode
}

/** `{"status":"ok","execution_count":n,"data":{mime:value}}` */
final case class OkOutput(data: ObjectNode) extends Output {
  def toJson(executionCount: Long): ObjectNode =
    Json.obj("status" -> "ok", "execution_count" -> executionCount, "data" -> data)
}

/** `{"status":"error","execution_count":n,"ename","evalue","traceback":[...]}` */
final case class ErrorOutput(ename: String, evalue: String, traceback: Seq[String]) extends Output {
  def toJson(executionCount: Long): ObjectNode = Json.obj(
    "status" -> "error", "execution_count" -> executionCount,
    "ename" -> ename, "evalue" -> evalue, "traceback" -> Json.arr(traceback))
}

object Output {
  val TextPlain = "text/plain"
  val ApplicationJson = "application/json"
  val LivyTable = "application/vnd.livy.table.v1+json"

  def text(s: String): OkOutput = OkOutput(Json.obj(TextPlain -> s))

  def data(mime: String, value: JsonNode): OkOutput = OkOutput(Json.obj(mime -> value))

  /** Livy's error for an interpreter that could not be started (livy-api §3). */
  def startFailure(kind: String, cause: Throwable): ErrorOutput = ErrorOutput(
    "InterpreterError", "Fail to start interpreter",
    Seq(s"the $kind interpreter failed to start: $cause\n") ++ stackLines(cause))

  /** A failure of the driver itself, not of the user's code. */
  def internal(t: Throwable): ErrorOutput =
    ErrorOutput(s"Internal Error: ${t.getClass.getName}", String.valueOf(t.getMessage), stackLines(t))

  /**
   * `out` of at most about `max` bytes (livy.server.statement.max-output-bytes): a larger output
   * keeps its text (`text/plain`, else the data as JSON; an error's value) cut to `max` bytes,
   * ending `… [truncated N bytes]` as the server's over-long log lines do, and drops the rest
   * (other mime types, a traceback).
   */
  def bounded(out: Output, max: Long): Output = {
    def size(s: String) = s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length.toLong
    def cut(s: String): String = {
      val bytes = s.getBytes(java.nio.charset.StandardCharsets.UTF_8)
      if (bytes.length <= max) s
      else {
        val kept = new String(bytes, 0, max.toInt, java.nio.charset.StandardCharsets.UTF_8).stripSuffix("\uFFFD")
        s"$kept… [truncated ${bytes.length - size(kept)} bytes]"
      }
    }
    out match {
      case OkOutput(data) if size(Json.write(data)) > max =>
        val shown = Option(data.get(TextPlain)).filter(_.isTextual).map(_.asText()).getOrElse(Json.write(data))
        text(cut(shown))
      case ErrorOutput(ename, evalue, tb) if size(evalue) + tb.map(size).sum > max =>
        ErrorOutput(ename, cut(evalue), Nil)
      case other => other
    }
  }

  def stackLines(t: Throwable): Seq[String] = t.getStackTrace.toSeq.map(f => s"\tat $f\n")

  /** Re-reads an output object that came from the Python child (no execution_count yet). */
  def fromJson(node: JsonNode): Output = Json.text(node, "status") match {
    case Some("ok") =>
      Option(node.get("data")) match {
        case Some(d: ObjectNode) => OkOutput(d)
        case _ => text("")
      }
    case _ =>
      val tb = Option(node.get("traceback")).map { n =>
        val b = Seq.newBuilder[String]
        n.forEach(x => b += x.asText())
        b.result()
      }.getOrElse(Nil)
      ErrorOutput(Json.text(node, "ename").getOrElse("Error"), Json.text(node, "evalue").getOrElse(""), tb)
  }
}

/**
 * One language hosted by the driver. All calls but `cancel` and `complete` come from the single
 * statement thread, so implementations need not be thread-safe for `execute`.
 */
trait Interpreter {
  def kind: String

  /**
   * The Spark job group the next statement's jobs run in (cancel and progress address it).
   * The caller sets it on the statement thread before [[execute]].
   */
  def jobGroup(sid: Long): String = sid.toString

  /** Runs one statement; the caller has already set the Spark job group to [[jobGroup]]. */
  def execute(sid: Long, code: String): Output

  /** Interpreter-specific part of a cancel (the job group is cancelled by the caller). */
  def cancel(sid: Long): Unit

  /** Whether the statement thread may be interrupted to cancel (false when it only waits). */
  def interruptible: Boolean

  /** Completion candidates; must return quickly and may return nothing when busy. */
  def complete(code: String, cursor: Int): Seq[String]

  def close(): Unit
}
