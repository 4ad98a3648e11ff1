package org.livyserver.repl

import java.util.concurrent.CountDownLatch

import com.fasterxml.jackson.databind.node.ObjectNode

/** One statement as the driver tracks it; mutable fields are guarded by the session lock. */
final class Statement(val id: Long, val kind: String, val code: String) {
  var state: String = "waiting" // waiting -> running -> available | cancelling -> cancelled
  var output: ObjectNode = _
  var progress: Double = 0.0
  var started: Long = 0L
  var completed: Long = 0L
  var cancelRequested: Boolean = false
  var jobGroup: String = id.toString // set when it starts running
  val done = new CountDownLatch(1)

  def finished: Boolean = state == "available" || state == "cancelled"

  /** A Livy Statement object (livy-api §1.2), as sent in "history". */
  def toJson: ObjectNode = Json.obj(
    "id" -> id, "code" -> code, "state" -> state, "output" -> output,
    "progress" -> progress, "started" -> started, "completed" -> completed)
}
