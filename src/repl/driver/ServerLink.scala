package org.livyserver.repl

import java.io.{BufferedReader, InputStreamReader, OutputStreamWriter, Writer}
import java.net.{InetSocketAddress, Socket, SocketTimeoutException}
import java.nio.charset.StandardCharsets.UTF_8
import java.util.concurrent.LinkedBlockingDeque

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.node.ObjectNode

/**
 * The driver's one TCP connection to the server: newline-delimited JSON, the driver dials.
 * Handshake: send hello, expect {"type":"welcome"}; a close instead means "rejected" and the
 * driver exits non-zero. {"type":"elsewhere"} means this server does not serve the driver now
 * (several servers share the records and another leads): the driver dials the next address.
 * The welcome may list every server's address, and {"type":"servers"} updates that list when
 * servers join or leave; the driver keeps it for its next dial.
 * A dropped connection is re-dialled through the list, with backoff after each round (1 s, 2 s,
 * 4 s, ..., 10 s), for up to the idle timeout, re-sending hello; after that the driver exits.
 *
 * Outgoing events go through one queue drained by one writer thread, so senders never block on
 * the network and never deadlock with the session's lock; the session enqueues under its own
 * lock, which keeps events in the order the session decided them.
 */
final class ServerLink(
    initialServers: Seq[(String, Int)],
    idleTimeoutMs: Long,
    hello: () => ObjectNode,
    onConnected: Boolean => Unit,
    onMessage: JsonNode => Unit,
    onGiveUp: () => Unit) {

  private val outbound = new LinkedBlockingDeque[JsonNode](100000)
  private val connLock = new Object
  private var conn: Socket = _ // guarded by connLock; null while disconnected
  private var writer: Writer = _
  /** Where to dial, in order; the last server that welcomed us comes first. */
  @volatile private var servers: Vector[(String, Int)] = initialServers.toVector

  /** Queues an event; dropped (oldest first) if the server has been away for a long time. */
  def send(event: JsonNode): Unit = {
    while (!outbound.offerLast(event)) outbound.pollFirst()
  }

  /** Drops queued events: on reconnect the history supersedes them. Call under the session lock. */
  def clearQueue(): Unit = outbound.clear()

  /**
   * Blocks until the first welcome. Retries while the server cannot be reached, up to the idle
   * timeout; then runs the reader (which reconnects) and the writer in background threads.
   */
  def start(): Unit = {
    val (socket, reader) = dial(first = true)
    publish(socket, first = true)
    daemon("livy-link-writer")(writeLoop())
    daemon("livy-link-reader")(readLoop(socket, reader))
  }

  private def readLoop(firstSocket: Socket, firstReader: BufferedReader): Unit = {
    var socket = firstSocket
    var reader = firstReader
    while (true) {
      try {
        var line = reader.readLine()
        while (line != null) {
          if (line.trim.nonEmpty) {
            val msg = try Json.parse(line) catch {
              case e: Exception => Log.warn(s"ignoring malformed line from server: ${line.take(200)} ($e)"); null
            }
            if (msg != null) {
              if (Json.text(msg, "type").contains("servers")) learnServers(msg)
              else onMessage(msg)
            }
          }
          line = reader.readLine()
        }
        Log.warn("server closed the connection")
      } catch {
        case e: java.io.IOException => Log.warn(s"connection to server lost: $e")
      }
      unpublish(socket)
      val (s, r) = dial(first = false)
      socket = s
      reader = r
      publish(socket, first = false)
    }
  }

  private def writeLoop(): Unit = {
    while (true) {
      // Events decided together (a statement's result and the idle state) go out in one write.
      val batch = new StringBuilder(Json.write(outbound.takeFirst())).append('\n')
      var more = outbound.pollFirst()
      while (more != null) {
        batch.append(Json.write(more)).append('\n')
        more = outbound.pollFirst()
      }
      val line = batch.toString
      connLock.synchronized {
        while (writer == null) connLock.wait()
        try {
          writer.write(line)
          writer.flush()
        } catch {
          // The reader notices the broken socket and reconnects; history covers what is lost.
          case e: java.io.IOException =>
            Log.warn(s"write to server failed: $e")
            try conn.close() catch { case _: Exception => }
        }
      }
    }
  }

  private def publish(socket: Socket, first: Boolean): Unit = {
    connLock.synchronized {
      conn = socket
      writer = new OutputStreamWriter(socket.getOutputStream, UTF_8)
      // Queue the session's greeting (state, or history + state) before the writer can run.
      onConnected(first)
      connLock.notifyAll()
    }
  }

  private def unpublish(socket: Socket): Unit = connLock.synchronized {
    if (conn eq socket) { conn = null; writer = null }
    try socket.close() catch { case _: Exception => }
  }

  private sealed trait Attempt
  private case class Welcomed(socket: Socket, reader: BufferedReader) extends Attempt
  private case object Rejected extends Attempt
  private case class Failed(why: String) extends Attempt

  private def show(server: (String, Int)): String = s"${server._1}:${server._2}"

  /** Dials the servers in turn until welcomed, exiting the JVM on rejection or once the idle timeout has passed. */
  private def dial(first: Boolean): (Socket, BufferedReader) = {
    val deadline = System.currentTimeMillis() + idleTimeoutMs
    var backoffMs = 1000L
    while (true) {
      val round = servers
      val why = new StringBuilder
      for (server <- round) {
        attempt(server) match {
          case Welcomed(s, r) =>
            Log.info(s"connected to server ${show(server)}${if (first) "" else " again"}")
            // The one that serves us is tried first next time.
            servers = (server +: servers.filterNot(_ == server)).distinct
            return (s, r)
          case Rejected =>
            Log.error(s"server ${show(server)} rejected this driver (bad session id or secret); exiting")
            sys.exit(2)
          case Failed(w) =>
            if (why.nonEmpty) why.append("; ")
            why.append(show(server)).append(": ").append(w)
        }
      }
      val now = System.currentTimeMillis()
      if (now >= deadline) {
        Log.error(s"no server served this driver for ${idleTimeoutMs / 1000} s ($why); exiting")
        onGiveUp()
        sys.exit(1)
      }
      val pause = math.min(backoffMs, deadline - now)
      Log.warn(f"no server serves this driver now ($why); retrying in ${pause / 1000.0}%.1f s")
      Thread.sleep(pause)
      backoffMs = math.min(backoffMs * 2, 10000L)
    }
    throw new IllegalStateException("unreachable")
  }

  private def attempt(server: (String, Int)): Attempt = {
    val socket = new Socket()
    try {
      socket.connect(new InetSocketAddress(server._1, server._2), 10000)
      socket.setTcpNoDelay(true)
      socket.setSoTimeout(30000) // for the handshake only
      val out = new OutputStreamWriter(socket.getOutputStream, UTF_8)
      out.write(Json.write(hello()) + "\n")
      out.flush()
      val reader = new BufferedReader(new InputStreamReader(socket.getInputStream, UTF_8))
      val line = reader.readLine()
      if (line == null) { socket.close(); return Rejected }
      val msg = Json.parse(line)
      Json.text(msg, "type") match {
        case Some("welcome") =>
          socket.setSoTimeout(0)
          learnServers(msg)
          Welcomed(socket, reader)
        case Some("elsewhere") =>
          learnServers(msg) // the leader first, when that server knows it
          socket.close()
          Failed("not serving this driver now")
        case _ =>
          Log.warn(s"expected welcome, got: ${line.take(200)}")
          socket.close()
          Rejected
      }
    } catch {
      case e: SocketTimeoutException => socket.close(); Failed(s"no welcome: $e")
      case e: java.io.IOException => socket.close(); Failed(e.toString)
    }
  }

  /** Keeps the welcome's (or an update's) list of servers, if any, for the next dial. */
  private def learnServers(msg: JsonNode): Unit = {
    val listed = msg.get("servers")
    if (listed != null && listed.isArray && listed.size > 0) {
      val parsed = (0 until listed.size).flatMap { i =>
        try Some(DriverConf.splitHostPort(listed.get(i).asText))
        catch { case _: Exception => None }
      }
      if (parsed.nonEmpty) servers = (parsed.toVector ++ servers).distinct
    }
  }

  private def daemon(name: String)(body: => Unit): Unit = {
    val t = new Thread(() => body, name)
    t.setDaemon(true)
    t.start()
  }
}
