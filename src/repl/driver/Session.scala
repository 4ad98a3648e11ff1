package org.livyserver.repl

import java.util.concurrent.{Executors, TimeUnit}

import scala.collection.JavaConverters._

import com.fasterxml.jackson.databind.JsonNode

import org.apache.spark.SparkContext

/**
 * Statements of one session: a FIFO run by ONE statement thread, cancel, progress, the REPL
 * state, and the retained statements that are replayed as "history" after a reconnect.
 * Every event is queued while holding `lock`, so the server sees them in decision order.
 */
final class Session(conf: DriverConf, interpreters: Interpreters, sc: () => SparkContext) {
  private val lock = new Object
  private var link: ServerLink = _
  private val waiting = new java.util.ArrayDeque[Statement]()
  private val retained = new java.util.LinkedHashMap[Long, Statement]()
  private var current: Statement = _ // the running statement
  private var nextId = 0L // every id below this was received (some may be evicted since)
  private var inUserCode = false // true while `current` is inside an interpreter's execute
  private var replState = "starting"
  private var ready = false
  private var statementThread: Thread = _
  private val helpers = Executors.newCachedThreadPool { r =>
    val t = new Thread(r, "livy-session-helper")
    t.setDaemon(true)
    t
  }

  def attach(l: ServerLink): Unit = link = l

  /** Job API messages go to `j`; its job statuses are re-sent on every connection. */
  def attachJobs(j: Jobs): Unit = jobs = j
  @volatile private var jobs: Jobs = _

  /**
   * Called by the link (under its connection lock) once welcomed: history first (the server
   * numbers no statement before it has it, so ids never collide after a server restart), then
   * the state. Sent on the first connection too, where it is empty.
   */
  def onConnected(first: Boolean): Unit = lock.synchronized {
    link.clearQueue()
    // Before the history: the server takes a job's status only for a job it has sent.
    if (jobs != null) jobs.resend()
    val all = retained.values().asScala.map(_.toJson)
    link.send(Json.obj("type" -> "history", "statements" -> Json.arr(all), "nextId" -> nextId))
    link.send(Json.obj("type" -> "state", "state" -> replState))
  }

  /**
   * Startup is over: report "idle" (or "error") even if statements are queued, so the server
   * always sees the ready signal; the statement thread then reports "busy".
   */
  def markReady(state: String): Unit = {
    lock.synchronized {
      ready = true
      setState(if (state == "error") "error" else "idle")
      lock.notifyAll()
    }
  }

  /** The statement thread inherits the caller's context class loader (the REPL's, if any). */
  def start(): Unit = {
    statementThread = new Thread(() => statementLoop(), "livy-statements")
    statementThread.setDaemon(true)
    statementThread.start()
    helpers.submit((() => progressLoop()): Runnable)
  }

  def onMessage(msg: JsonNode): Unit = if (jobs == null || !jobs.onMessage(msg)) Json.text(msg, "type") match {
    case Some("execute") =>
      val st = new Statement(Json.long(msg, "id").getOrElse(-1L), Json.text(msg, "kind").getOrElse(""),
        Json.text(msg, "code").getOrElse(""))
      enqueue(st)
    case Some("cancel") => Json.long(msg, "id").foreach(cancel)
    case Some("complete") =>
      val req = Json.long(msg, "req").getOrElse(-1L)
      val kind = Json.text(msg, "kind").getOrElse("")
      val code = Json.text(msg, "code").getOrElse("")
      val cursor = Json.long(msg, "cursor").map(_.toInt).getOrElse(code.length)
      helpers.submit((() => complete(req, kind, code, cursor)): Runnable)
    case Some("shutdown") => helpers.submit((() => LivyReplDriver.shutdown(0)): Runnable)
    case other => Log.warn(s"ignoring message of type $other")
  }

  private def enqueue(st: Statement): Unit = lock.synchronized {
    if (st.id < nextId) {
      Log.warn(s"statement ${st.id} was already received; ignoring the repeat")
      return
    }
    nextId = st.id + 1
    retained.put(st.id, st)
    evictOld()
    waiting.addLast(st)
    lock.notifyAll()
  }

  /** Keeps at most retainedStatements, dropping the oldest finished ones (Livy's retained list). */
  private def evictOld(): Unit = {
    val it = retained.values().iterator()
    var excess = retained.size() - conf.retainedStatements
    while (excess > 0 && it.hasNext) {
      if (it.next().finished) { it.remove(); excess -= 1 }
    }
  }

  // ---- the statement thread ----

  private def statementLoop(): Unit = {
    while (true) {
      val st = lock.synchronized {
        while (!ready || waiting.isEmpty) lock.wait()
        val s = waiting.pollFirst()
        current = s
        s.state = "running"
        s.started = System.currentTimeMillis()
        link.send(Json.obj("type" -> "statement", "id" -> s.id, "state" -> "running", "started" -> s.started))
        setState("busy")
        s
      }
      var output: Output = null
      try output = run(st)
      catch {
        // ThreadDeath (a stopped busy loop), interrupts, or a bug of ours: the statement ends.
        case t: Throwable => output = if (st.cancelRequested) null else Output.internal(t)
      } finally {
        try finish(st, output) catch { case _: ThreadDeath => finish(st, output) }
      }
    }
  }

  private def run(st: Statement): Output = {
    Thread.interrupted() // a late interrupt meant for the previous statement
    if (st.cancelRequested) return null
    val interp = interpreters.canonical(st.kind) match {
      case None => return ErrorOutput("InterpreterError", s"Unknown statement kind: ${st.kind}", Nil)
      case Some(kind) => interpreters.forKind(kind) match {
        case Left(err) => return err
        case Right(i) => i
      }
    }
    if (st.cancelRequested) return null
    val context = sc()
    // Every job of the statement lands in one group: progress and cancel address it by name.
    val group = interp.jobGroup(st.id)
    lock.synchronized { st.jobGroup = group }
    context.setJobGroup(group, s"Livy statement ${st.id}", interruptOnCancel = true)
    lock.synchronized { inUserCode = true }
    try interp.execute(st.id, st.code)
    finally {
      lock.synchronized { inUserCode = false }
      context.clearJobGroup()
    }
  }

  private def finish(st: Statement, output: Output): Unit = lock.synchronized {
    current = null
    inUserCode = false
    Thread.interrupted() // no interrupt can arrive for `st` any more: clear a pending one
    if (!st.finished) { // a forced cancel may have finished it already
      st.completed = System.currentTimeMillis()
      if (st.cancelRequested) {
        st.state = "cancelled"
        link.send(Json.obj("type" -> "statement", "id" -> st.id, "state" -> "cancelled", "completed" -> st.completed))
      } else {
        val out = Output.bounded(Option(output).getOrElse(ErrorOutput("Error", "no output", Nil)), conf.maxOutputBytes)
        st.output = out.toJson(st.id)
        st.progress = 1.0
        st.state = "available"
        link.send(Json.obj("type" -> "statement", "id" -> st.id, "state" -> "available",
          "completed" -> st.completed, "output" -> st.output))
      }
      st.done.countDown()
    }
    evictOld()
    setState(if (waiting.isEmpty) "idle" else "busy")
  }

  private def setState(s: String): Unit = {
    // "error" (the session's own interpreter failed to start) is kept, as in Livy.
    val next = if (replState == "error") "error" else s
    if (next != replState) {
      replState = next
      link.send(Json.obj("type" -> "state", "state" -> next))
    }
  }

  // ---- cancel ----

  private def cancel(id: Long): Unit = {
    val running = lock.synchronized {
      Option(retained.get(id)) match {
        case Some(st) if st.state == "waiting" =>
          waiting.remove(st)
          st.cancelRequested = true
          st.state = "cancelled"
          st.completed = System.currentTimeMillis()
          st.done.countDown()
          link.send(Json.obj("type" -> "statement", "id" -> id, "state" -> "cancelled", "completed" -> st.completed))
          evictOld()
          None
        case Some(st) if st.state == "running" && !st.cancelRequested =>
          st.cancelRequested = true
          st.state = "cancelling"
          link.send(Json.obj("type" -> "statement", "id" -> id, "state" -> "cancelling"))
          Some(st)
        case _ => None // unknown, finished or already cancelling: a no-op, as in Livy
      }
    }
    running.foreach(st => helpers.submit((() => cancelRunning(st)): Runnable))
  }

  /**
   * Like Livy: cancel the job group every 100 ms until the statement ends. Scala/SQL statements
   * also get interrupted (once a second); a Scala busy loop that ignores interrupts is stopped
   * with Thread.stop after 3 s (Java < 20 only). Python gets a cancel message, upon which the
   * child interrupts its own Python code. After the job-cancel timeout the statement is
   * reported cancelled anyway, and a stuck Python child is replaced.
   */
  private def cancelRunning(st: Statement): Unit = {
    val t0 = System.currentTimeMillis()
    val kind = interpreters.canonical(st.kind).getOrElse("")
    var lastInterrupt = 0L
    var stopped = false
    while (!st.done.await(100, TimeUnit.MILLISECONDS) && System.currentTimeMillis() - t0 < conf.jobCancelTimeoutMs) {
      val group = lock.synchronized(st.jobGroup)
      try sc().cancelJobGroup(group) catch { case e: Exception => Log.warn(s"cancelJobGroup: $e") }
      val interp = interpreters.started(kind)
      interp.foreach(i => try i.cancel(st.id) catch { case e: Exception => Log.warn(s"cancel: $e") })
      lock.synchronized {
        val now = System.currentTimeMillis()
        if ((current eq st) && inUserCode && interp.exists(_.interruptible)) {
          if (now - lastInterrupt >= 1000) {
            statementThread.interrupt()
            lastInterrupt = now
          }
          if (!stopped && now - t0 > 3000 && Runtime.version().feature() < 20) {
            Log.warn(s"statement ${st.id} ignores interrupts; stopping its thread")
            stopThread(statementThread)
            stopped = true
          }
        }
      }
    }
    if (st.done.getCount > 0) forceCancelled(st, kind)
  }

  @scala.annotation.nowarn("cat=deprecation")
  private def stopThread(t: Thread): Unit =
    try t.stop() catch { case e: UnsupportedOperationException => Log.warn(s"Thread.stop: $e") }

  private def forceCancelled(st: Statement, kind: String): Unit = {
    lock.synchronized {
      if (!st.finished) {
        Log.warn(s"statement ${st.id} did not stop within ${conf.jobCancelTimeoutMs} ms; reporting it cancelled")
        st.state = "cancelled"
        st.completed = System.currentTimeMillis()
        st.done.countDown()
        link.send(Json.obj("type" -> "statement", "id" -> st.id, "state" -> "cancelled", "completed" -> st.completed))
      }
    }
    // The statement thread is still inside the child: ending the child frees it.
    interpreters.started(kind).foreach {
      case c: ChildInterpreter => c.kill()
      case _ =>
    }
  }

  // ---- progress ----

  /** Progress of the running statement's job group, sent when it changes, every 200 ms at most. */
  private def progressLoop(): Unit = {
    while (true) {
      Thread.sleep(200)
      val st = lock.synchronized(current)
      if (st != null) {
        try {
          val p = progressOf(lock.synchronized(st.jobGroup))
          lock.synchronized {
            if ((current eq st) && st.state == "running" && p != st.progress) {
              st.progress = p
              link.send(Json.obj("type" -> "progress", "id" -> st.id, "progress" -> p))
            }
          }
        } catch { case e: Exception => Log.warn(s"progress: $e") }
      }
    }
  }

  /** Completed / total tasks over the stages of every job in the group (Livy's definition). */
  private def progressOf(group: String): Double = {
    val tracker = sc().statusTracker
    var total = 0L
    var done = 0L
    for {
      job <- tracker.getJobIdsForGroup(group)
      info <- tracker.getJobInfo(job).toSeq
      stage <- info.stageIds()
      stageInfo <- tracker.getStageInfo(stage).toSeq
    } {
      total += stageInfo.numTasks()
      done += stageInfo.numCompletedTasks()
    }
    if (total == 0) 0.0 else done.toDouble / total
  }

  // ---- completion ----

  private def complete(req: Long, kind: String, code: String, cursor: Int): Unit = {
    val candidates = try {
      interpreters.canonical(kind).flatMap(interpreters.started).map(_.complete(code, cursor)).getOrElse(Nil)
    } catch {
      case e: Exception => Log.warn(s"completion failed: $e"); Nil
    }
    link.send(Json.obj("type" -> "completion", "req" -> req, "candidates" -> Json.arr(candidates)))
  }
}
