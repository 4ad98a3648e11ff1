package org.livyserver.repl

import java.time.LocalDateTime
import java.time.format.DateTimeFormatter

/** Driver diagnostics go to stderr, which the server keeps as the session log. */
object Log {
  private val fmt = DateTimeFormatter.ofPattern("yy/MM/dd HH:mm:ss")
  // Captured at load time: statements swap System.out, and must never swap our stderr.
  private val err = System.err

  def info(msg: String): Unit = line("INFO", msg)
  def warn(msg: String): Unit = line("WARN", msg)
  def error(msg: String, t: Throwable = null): Unit = {
    line("ERROR", msg)
    if (t != null) err.synchronized { t.printStackTrace(err) }
  }

  /** A line as is (a child process's stderr), to the session log even while a statement runs. */
  def raw(text: String): Unit = err.println(text)

  private def line(level: String, msg: String): Unit =
    err.println(s"${LocalDateTime.now.format(fmt)} $level LivyReplDriver: $msg")
}
